/**
 * What the reconciler and the operator do about a finding, as ordinary operations (outbox,
 * generation, audit): each re-checks the resource under its row lock, so two replicas or a
 * racing Heroku request never start two of them.
 */
import { randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError } from '../../../shared/src/errors.js';
import type { Catalog } from '../catalog/schema.js';
import { audit, type Actor } from '../db/audit.js';
import { withTransaction, type Pool, type PoolClient } from '../db/pool.js';
import { insertOperation, openOperations } from '../db/operations.js';
import { bumpGeneration, getResource, insertResource, type ResourceRow } from '../db/resources.js';
import type { Finding } from './drift.js';
import { getFinding } from '../db/drift.js';

interface Target {
  uuid: string;
  region: string;
  finding: Pick<Finding, 'finding' | 'reason'>;
}

/** The resource, locked, if it is in `states` and nothing else is under way on it. */
async function idle(
  client: PoolClient,
  t: Target,
  states: ResourceRow['state'][],
): Promise<ResourceRow | undefined> {
  const r = await getResource(client, t.uuid, true);
  if (!r || r.agent_region !== t.region || !states.includes(r.state)) return undefined;
  if ((await openOperations(client, t.uuid)).length > 0) return undefined;
  return r;
}

/** A missing or stale instance: re-apply the current plan at a new generation. */
export async function requestRepair(pool: Pool, t: Target): Promise<string | undefined> {
  return withTransaction(pool, async (client) => {
    const r = await idle(client, t, ['provisioned']);
    if (!r) return undefined;
    const id = randomUUID();
    const generation = await bumpGeneration(client, t.uuid);
    const params = { finding: t.finding.finding, reason: t.finding.reason };
    await insertOperation(client, {
      id,
      uuid: t.uuid,
      kind: 'repair',
      generation,
      plan: r.plan,
      params,
    });
    await audit(client, {
      uuid: t.uuid,
      actor: 'system',
      action: 'repair_requested',
      detail: { operationId: id, generation, agentRegion: t.region, ...params },
    });
    return id;
  });
}

/** Deprovision the instance of a gone add-on (or, for the operator, of an unknown one). */
async function deprovisionInstance(
  client: PoolClient,
  r: ResourceRow,
  actor: Actor,
  action: string,
  params: Record<string, unknown>,
): Promise<string> {
  const id = randomUUID();
  const state = r.state === 'deprovisioned' ? undefined : 'deprovisioning';
  const generation = await bumpGeneration(client, r.uuid, { state });
  await insertOperation(client, {
    id,
    uuid: r.uuid,
    kind: 'deprovision',
    generation,
    plan: r.plan,
    params,
  });
  await audit(client, {
    uuid: r.uuid,
    actor,
    action,
    detail: { operationId: id, generation, agentRegion: r.agent_region, ...params },
  });
  return id;
}

/** An orphan past its grace period: its instance is deprovisioned. */
export async function requestRemoval(pool: Pool, t: Target): Promise<string | undefined> {
  return withTransaction(pool, async (client) => {
    const r = await idle(client, t, ['deprovisioned', 'failed', 'deprovisioning']);
    if (!r) return undefined;
    const params = { orphan: true, reason: t.finding.reason };
    return deprovisionInstance(client, r, 'system', 'orphan_removal_requested', params);
  });
}

/**
 * The operator's removal of an instance no add-on owns. Only one the last reconcile pass of
 * that region reported as unknown, and only when the database has no add-on of that uuid:
 * a row is made for it (state deprovisioning) so the removal runs, retries and is audited
 * like any deprovision.
 */
export async function removeUnknown(
  pool: Pool,
  catalog: Catalog,
  uuid: string,
  region: string,
): Promise<string> {
  const finding = await getFinding(pool, region, uuid);
  if (finding?.finding !== 'unknown')
    throw new NotFoundError(
      'not_unknown',
      `${uuid} is not an unknown instance of ${region} in the last reconcile pass (run reconcile --region ${region} first)`,
    );
  const reported = typeof finding.detail.plan === 'string' ? finding.detail.plan : undefined;
  const plan = catalog.plans.find((p) => p.name === reported) ?? catalog.plans[0]!;
  const where = catalog.regions.find((r) => r.agentRegion === region) ?? catalog.regions[0]!;
  return withTransaction(pool, async (client) => {
    const created = await insertResource(client, {
      uuid,
      name: `unknown-instance-${uuid.slice(0, 8)}`,
      plan: plan.name,
      regionValue: where.value,
      herokuRegion: where.name,
      privateSpace: null,
      agentRegion: region,
      callbackUrl: null,
      logInputUrlEnc: null,
      options: {},
      oauthGrantEnc: null,
      oauthGrantExpiresAt: null,
    });
    const r = created ? await getResource(client, uuid, true) : undefined;
    if (!r) throw new ConflictError('known', `an add-on ${uuid} exists now; not removing it`);
    const params = { unknown: true, reportedPlan: reported ?? null };
    return deprovisionInstance(client, r, 'operator', 'unknown_removal_requested', params);
  });
}
