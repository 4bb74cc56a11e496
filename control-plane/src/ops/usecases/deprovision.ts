/**
 * Deprovision: one transaction marks the resource `deprovisioning` under a new generation and
 * queues the operation; Heroku gets its 204 at once. Unknown or already-removed add-ons are a
 * logged no-op (Heroku may repeat a deprovision).
 */
import { randomUUID } from 'node:crypto';
import { audit } from '../../db/audit.js';
import { insertOperation } from '../../db/operations.js';
import { withTransaction } from '../../db/pool.js';
import { bumpGeneration, getResource } from '../../db/resources.js';
import type { UseCaseDeps } from './deps.js';
import type { Outcome } from './outcome.js';

export async function deprovision(
  deps: Pick<UseCaseDeps, 'pool'>,
  uuid: string,
  requestId: string | undefined,
): Promise<Outcome> {
  await withTransaction(deps.pool, async (client) => {
    const resource = await getResource(client, uuid, true);
    if (!resource || resource.state === 'deprovisioned' || resource.state === 'deprovisioning') {
      await audit(client, {
        uuid: resource ? uuid : null,
        actor: 'heroku',
        action: 'deprovision_noop',
        requestId,
        detail: { uuid },
      });
      return;
    }
    const generation = await bumpGeneration(client, uuid, { state: 'deprovisioning' });
    await insertOperation(client, {
      id: randomUUID(),
      uuid,
      kind: 'deprovision',
      generation,
      plan: resource.plan,
    });
    await audit(client, { uuid, actor: 'heroku', action: 'deprovision_requested', requestId });
  });
  return { kind: 'removed' };
}
