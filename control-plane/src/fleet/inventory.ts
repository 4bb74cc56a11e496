/**
 * Asks a region's agents for what they actually run (core NATS request on
 * `agents.<region>.inventory.request`, every live agent answers). An answer counts only when
 * it speaks for the region asked: an inbox is writable by any agent. A pass needs every live
 * agent's answer: a silent one would make its instances look missing.
 */
import { RequestStrategy, type NatsConnection } from 'nats';
import type { Logger } from '../../../shared/src/logger.js';
import {
  decodeMessage,
  InventorySchema,
  type InstanceSummary,
} from '../../../shared/src/messages.js';
import { inventoryRequestSubject } from '../../../shared/src/subjects.js';
import { mergeInventories } from './drift.js';

export class InventoryUnavailable extends Error {
  override name = 'InventoryUnavailable';
}

export async function requestInventory(
  nc: NatsConnection,
  log: Logger,
  region: string,
  expected: number,
  timeoutMs: number,
): Promise<{ instances: InstanceSummary[]; agents: string[] }> {
  const answers = new Map<string, InstanceSummary[]>();
  try {
    const replies = await nc.requestMany(inventoryRequestSubject(region), undefined, {
      strategy: RequestStrategy.Count,
      maxMessages: expected,
      maxWait: timeoutMs,
    });
    for await (const msg of replies) {
      try {
        const inv = decodeMessage(InventorySchema, msg.data);
        if (inv.agentRegion !== region) {
          log.error(
            { securityEvent: 'inventory_rejected', agentRegion: region, claimed: inv.agentRegion },
            'inventory refused: it speaks for another region',
          );
          continue;
        }
        answers.set(inv.agentId, inv.instances);
      } catch (err) {
        log.warn({ err, agentRegion: region }, 'inventory answer rejected');
      }
    }
  } catch (err) {
    throw new InventoryUnavailable(`inventory request failed: ${(err as Error).message}`);
  }
  if (answers.size < expected)
    throw new InventoryUnavailable(
      `${answers.size} of ${expected} live agents answered the inventory request within ${timeoutMs} ms`,
    );
  return { instances: mergeInventories([...answers.values()]), agents: [...answers.keys()] };
}
