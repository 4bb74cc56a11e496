import { randomUUID } from 'node:crypto';
import { JobSchema, MESSAGE_VERSION, type Job } from '../../../../shared/src/messages.js';
import type { Catalog } from '../../catalog/schema.js';
import { findPlan } from '../../catalog/placement.js';
import type { OperationRow } from '../../db/operations.js';
import type { ResourceRow } from '../../db/resources.js';

export function buildJob(
  catalog: Catalog,
  configVarsPrefix: string,
  op: OperationRow,
  resource: ResourceRow,
  timeoutMs: number,
): Job {
  // A revocation was scheduled with the plan of the rotation it follows, hours before it runs:
  // it carries the resource's plan now, so an agent never sizes the instance back to the old one.
  const plan = findPlan(catalog, op.kind === 'revoke_credentials' ? resource.plan : op.plan);
  return JobSchema.parse({
    version: MESSAGE_VERSION,
    operationId: op.id,
    kind: op.kind,
    generation: op.generation,
    attempt: op.attempts + 1,
    resource: {
      uuid: resource.uuid,
      name: resource.name,
      plan: plan.name,
      engine: plan.engine,
      size: plan.size,
      herokuRegion: resource.heroku_region,
      agentRegion: resource.agent_region,
      privateSpace: resource.private_space ?? false,
    },
    configVarsPrefix,
    params: op.params,
    deadline: new Date(Date.now() + timeoutMs).toISOString(),
    traceId: randomUUID(),
  });
}
