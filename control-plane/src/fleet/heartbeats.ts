/**
 * Consumes the region agents' heartbeats (core NATS, `agents.<region>.heartbeat`) into
 * agent_heartbeats, and knows which regions are down: every agent that region ever had has
 * been silent for longer than AGENT_DEAD_AFTER_S. A region never heard from is not "down"
 * (a fresh install, or a region with no agent yet): placement leaves it alone. A heartbeat
 * whose body names another region than its subject is refused and logged: an agent may
 * only speak for its own region (its NATS permissions say the same).
 */
import type { NatsConnection, Subscription } from 'nats';
import type { Logger } from '../../../shared/src/logger.js';
import { decodeMessage, HeartbeatSchema } from '../../../shared/src/messages.js';
import { forgetOldAgents, recordHeartbeat, regionLiveness } from '../db/agents.js';
import type { Pool } from '../db/pool.js';

export interface Fleet {
  start(): Promise<void>;
  /** Regions whose agents have all gone silent (refreshed every few seconds). */
  downRegions(): ReadonlySet<string>;
  stop(): Promise<void>;
}

export interface FleetDeps {
  nc: NatsConnection;
  pool: Pool;
  log: Logger;
  deadAfterS: number;
  /** How often the down set is read from Postgres (default 5 s). */
  refreshMs?: number;
}

const regionOfSubject = (subject: string): string | undefined => subject.split('.')[1];

export function createFleet(deps: FleetDeps): Fleet {
  let sub: Subscription | undefined;
  let timer: NodeJS.Timeout | undefined;
  let down = new Set<string>();

  async function onHeartbeat(subject: string, data: Uint8Array): Promise<void> {
    try {
      const h = decodeMessage(HeartbeatSchema, data);
      if (h.agentRegion !== regionOfSubject(subject)) {
        deps.log.warn(
          { subject, agentRegion: h.agentRegion },
          'heartbeat refused: region mismatch',
        );
        return;
      }
      await recordHeartbeat(deps.pool, h);
    } catch (err) {
      deps.log.warn({ err, subject }, 'heartbeat not recorded');
    }
  }

  async function refresh(): Promise<void> {
    try {
      const rows = await regionLiveness(deps.pool, deps.deadAfterS);
      const now = new Set(rows.filter((r) => r.live_agents === 0).map((r) => r.agent_region));
      for (const r of now)
        if (!down.has(r))
          deps.log.error({ agentRegion: r }, 'region down: all its agents are silent');
      for (const r of down) if (!now.has(r)) deps.log.info({ agentRegion: r }, 'region up again');
      down = now;
    } catch (err) {
      deps.log.warn({ err }, 'region liveness not refreshed; keeping the last answer');
    }
  }

  return {
    async start() {
      sub = deps.nc.subscribe('agents.*.heartbeat', {
        callback: (err, msg) => {
          if (!err) void onHeartbeat(msg.subject, msg.data);
        },
      });
      await forgetOldAgents(deps.pool).catch(() => undefined);
      await refresh();
      timer = setInterval(() => void refresh(), deps.refreshMs ?? 5000);
    },
    downRegions: () => down,
    async stop() {
      if (timer) clearInterval(timer);
      sub?.unsubscribe();
    },
  };
}
