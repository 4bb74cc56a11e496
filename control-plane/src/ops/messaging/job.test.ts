import { randomUUID } from 'node:crypto';
import { loadCatalog } from '../../catalog/load.js';
import type { OperationRow } from '../../db/operations.js';
import type { ResourceRow } from '../../db/resources.js';
import { buildJob } from './job.js';

const catalog = loadCatalog();
const [older, newer] = catalog.plans.filter((p) => p.engine === 'redis').map((p) => p.name);
const resource = {
  uuid: randomUUID(),
  name: 'n',
  plan: newer,
  heroku_region: 'amazon-web-services::us-east-1',
  agent_region: 'us-east',
  private_space: false,
} as unknown as ResourceRow;
const op = (kind: OperationRow['kind']): OperationRow =>
  ({ id: randomUUID(), kind, generation: 7, attempts: 0, plan: older, params: {} }) as OperationRow;

it("a plan change's job carries the operation's plan", () => {
  expect(older).toBeDefined();
  expect(newer).not.toBe(older);
  expect(buildJob(catalog, 'P', op('change_plan'), resource, 1000).resource.plan).toBe(older);
});

it("a revocation's job carries the resource's plan now, not the plan of the rotation it follows", () => {
  const revoke = { ...op('revoke_credentials'), params: { revokeUser: 'u1' } };
  expect(buildJob(catalog, 'P', revoke, resource, 1000).resource.plan).toBe(newer);
});
