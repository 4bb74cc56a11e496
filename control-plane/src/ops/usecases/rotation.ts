/**
 * Credential rotation: a rotate_credentials operation adds a new user and password on the
 * instance; its config is PATCHed to Heroku (which restarts the apps); the previous user is
 * revoked by a revoke_credentials operation after a grace period (Heroku advises an hour or
 * two, Private Space dynos restart slower).
 */
import { randomUUID } from 'node:crypto';
import { ConflictError, GoneError, NotFoundError } from '../../../../shared/src/errors.js';
import type { Sealer } from '../../crypto.js';
import { audit, type Actor } from '../../db/audit.js';
import { withTransaction, type Pool, type Queryable } from '../../db/pool.js';
import { insertOperation, type OperationRow } from '../../db/operations.js';
import { bumpGeneration, getResource } from '../../db/resources.js';

/** The user name in the current `<PREFIX>_URL` (rediss://user:pass@host:port). */
export function currentUser(config: Record<string, string> | undefined): string | undefined {
  const url = Object.entries(config ?? {}).find(([k]) => k.endsWith('_URL'))?.[1];
  if (!url) return undefined;
  try {
    return decodeURIComponent(new URL(url).username) || undefined;
  } catch {
    return undefined;
  }
}

export async function startRotation(
  pool: Pool,
  sealer: Sealer,
  uuid: string,
  actor: Actor,
): Promise<{ operationId: string }> {
  const operationId = randomUUID();
  await withTransaction(pool, async (client) => {
    const resource = await getResource(client, uuid, true);
    if (!resource) throw new NotFoundError('unknown_resource', `No add-on ${uuid} is known here.`);
    if (resource.state === 'deprovisioned' || resource.state === 'deprovisioning')
      throw new GoneError('deprovisioned', 'This add-on has been deprovisioned.');
    if (resource.state !== 'provisioned')
      throw new ConflictError(
        'not_ready',
        'Credentials can be rotated once the add-on is provisioned.',
      );
    const previousUser = currentUser(
      resource.config_enc
        ? sealer.openJson<Record<string, string>>(resource.config_enc)
        : undefined,
    );
    const generation = await bumpGeneration(client, uuid);
    await insertOperation(client, {
      id: operationId,
      uuid,
      kind: 'rotate_credentials',
      generation,
      plan: resource.plan,
      params: { previousUser },
      answerAsync: true,
    });
    await audit(client, {
      uuid,
      actor,
      action: 'credentials_rotation_requested',
      detail: { operationId, generation },
    });
  });
  return { operationId };
}

/** After a rotation succeeded: schedule the revocation of the previous user. */
export async function scheduleRevocation(
  db: Queryable,
  op: OperationRow,
  graceS: number,
): Promise<void> {
  const revokeUser = op.params.previousUser;
  if (typeof revokeUser !== 'string' || !revokeUser) return;
  const generation = await bumpGeneration(db, op.resource_uuid);
  await insertOperation(db, {
    id: randomUUID(),
    uuid: op.resource_uuid,
    kind: 'revoke_credentials',
    generation,
    plan: op.plan,
    params: { revokeUser },
    notBefore: new Date(Date.now() + graceS * 1000),
  });
  await audit(db, {
    uuid: op.resource_uuid,
    actor: 'system',
    action: 'credentials_revocation_scheduled',
    detail: { revokeUser, graceS },
  });
}
