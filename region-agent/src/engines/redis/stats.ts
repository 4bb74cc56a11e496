/** The dashboard's numbers from redis `INFO` (sections server, clients, memory, stats, keyspace). */
import type { InstanceStats } from '../../../../shared/src/messages.js';
import type { ServerTarget } from '../engine.js';
import { withRedis } from './client.js';

/** `INFO`'s `field:value` lines, by field; section headers and blank lines skipped. */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (!line || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

/** A count or size; anything unreadable counts as 0 rather than failing the inventory. */
function count(fields: Map<string, string>, name: string): number {
  const n = Number(fields.get(name));
  return Number.isFinite(n) && n >= 0 ? n : 0;
}

/** Keys over every database: `db0:keys=12,expires=0,avg_ttl=0`. */
function keys(fields: Map<string, string>): number {
  let total = 0;
  for (const [name, value] of fields) {
    if (!/^db\d+$/.test(name)) continue;
    const n = Number(/(?:^|,)keys=(\d+)/.exec(value)?.[1] ?? 0);
    total += n;
  }
  return total;
}

export function statsFromInfo(text: string): InstanceStats {
  const f = parseInfo(text);
  return {
    usedMemoryBytes: count(f, 'used_memory'),
    maxMemoryBytes: count(f, 'maxmemory'),
    keys: keys(f),
    clients: count(f, 'connected_clients'),
    opsPerSec: count(f, 'instantaneous_ops_per_sec'),
    uptimeS: count(f, 'uptime_in_seconds'),
  };
}

/**
 * One `INFO` (its default sections, keyspace among them) as the instance's current user,
 * whose ACL allows it; short timeouts, as an inventory waits for it.
 */
export async function redisStats(target: ServerTarget): Promise<InstanceStats> {
  const text = await withRedis(target, (c) => c.info(), {
    connectTimeoutMs: 2_000,
    commandTimeoutMs: 2_000,
  });
  return statsFromInfo(text);
}
