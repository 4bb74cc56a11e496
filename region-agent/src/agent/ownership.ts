/**
 * One holder per region for the local driver. Its instances are processes and files on one
 * machine, so a second agent of the region with another data dir would take jobs for
 * instances it does not hold (a deprovision "succeeds" as a no-op while the other machine's
 * redis-server keeps running). At start-up the agent answers `agents.<region>.owner` with
 * what it holds, then asks who else holds the region: an answer naming other data refuses
 * the start. The same data dir (a restart, or a crashed agent's successor) is the same holder.
 * Two agents starting at once both see each other and both refuse: nothing leaks either way.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { RequestStrategy, type NatsConnection, type Subscription } from 'nats';
import type { Logger } from '../../../shared/src/logger.js';
import { ownerSubject } from '../../../shared/src/subjects.js';

interface OwnerClaim {
  holder: string;
  agentId: string;
}

export class RegionHeldError extends Error {
  override name = 'RegionHeldError';
}

export interface RegionHold {
  release(): void;
}

/** `host:/abs/data/dir`: what a local agent holds. */
export function localHolder(dataDir: string): string {
  return `${hostname()}:${resolve(dataDir)}`;
}

const encode = (c: OwnerClaim): Uint8Array => new TextEncoder().encode(JSON.stringify(c));

function decode(data: Uint8Array): OwnerClaim | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(data)) as Partial<OwnerClaim>;
    return typeof v.holder === 'string' && typeof v.agentId === 'string'
      ? { holder: v.holder, agentId: v.agentId }
      : undefined;
  } catch {
    return undefined;
  }
}

function answer(nc: NatsConnection, region: string, me: OwnerClaim, log: Logger): Subscription {
  return nc.subscribe(ownerSubject(region), {
    callback: (err, msg) => {
      if (err) return;
      const asker = decode(msg.data);
      if (asker && asker.holder !== me.holder)
        log.error(
          { agentRegion: region, holder: me.holder, other: asker.holder },
          'another local agent tried to serve this region with other data; it was refused',
        );
      msg.respond(encode(me));
    },
  });
}

async function othersHolding(
  nc: NatsConnection,
  region: string,
  me: OwnerClaim,
  waitMs: number,
): Promise<OwnerClaim[]> {
  const others: OwnerClaim[] = [];
  const replies = await nc.requestMany(ownerSubject(region), encode(me), {
    strategy: RequestStrategy.Timer,
    maxWait: waitMs,
  });
  for await (const m of replies) {
    const c = decode(m.data);
    if (c && c.holder !== me.holder) others.push(c);
  }
  return others;
}

export async function holdRegion(
  nc: NatsConnection,
  region: string,
  me: OwnerClaim,
  log: Logger,
  waitMs = 1000,
): Promise<RegionHold> {
  const sub = answer(nc, region, me, log);
  await nc.flush();
  const others = await othersHolding(nc, region, me, waitMs);
  if (others.length > 0) {
    sub.unsubscribe();
    const list = others.map((o) => `${o.agentId} (${o.holder})`).join(', ');
    throw new RegionHeldError(
      `region ${region} is already served by local agent ${list}; a local-driver region has one ` +
        `agent with one data dir (this one has ${me.holder}). Stop that agent, or give this one ` +
        'another region (AGENT_REGION), or use the kubernetes driver for replicas.',
    );
  }
  return { release: () => sub.unsubscribe() };
}
