/** Heartbeats and inventories for one region, over core NATS. */
import type { NatsConnection, Subscription } from 'nats';
import type { Logger } from '../../../shared/src/logger.js';
import {
  MESSAGE_VERSION,
  encodeMessage,
  type Heartbeat,
  type Inventory,
} from '../../../shared/src/messages.js';
import {
  heartbeatSubject,
  inventoryRequestSubject,
  inventorySubject,
} from '../../../shared/src/subjects.js';
import type { Driver } from '../driver.js';

export interface ReporterDeps {
  nc: NatsConnection;
  region: string;
  agentId: string;
  driver: Driver;
  log: Logger;
  heartbeatMs: number;
  inventoryMs: number;
  inFlight: () => number;
}

export interface Reporter {
  start(): void;
  stop(): Promise<void>;
  inventory(): Promise<Inventory>;
}

export function createReporter(deps: ReporterDeps): Reporter {
  const startedAt = new Date().toISOString();
  const timers: NodeJS.Timeout[] = [];
  let subscription: Subscription | undefined;

  function heartbeat(): void {
    const message: Heartbeat = {
      version: MESSAGE_VERSION,
      agentRegion: deps.region,
      agentId: deps.agentId,
      driver: deps.driver.name,
      inFlight: deps.inFlight(),
      startedAt,
      at: new Date().toISOString(),
    };
    deps.nc.publish(heartbeatSubject(deps.region), encodeMessage(message));
  }

  async function inventory(): Promise<Inventory> {
    return {
      version: MESSAGE_VERSION,
      agentRegion: deps.region,
      agentId: deps.agentId,
      instances: await deps.driver.inventory(),
      at: new Date().toISOString(),
    };
  }

  function publishInventory(): void {
    inventory()
      .then((inv) => deps.nc.publish(inventorySubject(deps.region), encodeMessage(inv)))
      .catch((err: unknown) => deps.log.warn({ err }, 'inventory failed'));
  }

  return {
    start(): void {
      heartbeat();
      publishInventory();
      timers.push(
        setInterval(heartbeat, deps.heartbeatMs),
        setInterval(publishInventory, deps.inventoryMs),
      );
      subscription = deps.nc.subscribe(inventoryRequestSubject(deps.region), {
        callback: (err, msg) => {
          if (err) return;
          inventory()
            .then((inv) => msg.respond(encodeMessage(inv)))
            .catch((e: unknown) => deps.log.warn({ err: e }, 'inventory request failed'));
        },
      });
    },
    async stop(): Promise<void> {
      for (const t of timers) clearInterval(t);
      timers.length = 0;
      if (subscription && !subscription.isClosed()) await subscription.drain();
    },
    inventory,
  };
}
