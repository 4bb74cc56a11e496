/**
 * Settings and a watchdog for long-running JetStream `consume()` loops. nats.js's defaults
 * (30 s expiry, 15 s idle heartbeat, two misses) notice a pull request lost with a NATS node
 * only after ~30 s, and retry a failed consumer lookup after another 30 s, silently. In a
 * cluster that is every failover of a consumer's leader, so we ask for short pulls and
 * heartbeats, and log every stall and every resume.
 */
import { ConsumerEvents, type ConsumerMessages } from 'nats';
import type { Logger } from './logger.js';

/**
 * A pull request lives 5 s and the server heartbeats an idle one every second: two missed
 * heartbeats (~2 s) make nats.js check the consumer and pull again; a failed check is
 * retried every `expires`.
 */
export const CONSUME_TIMING = { expires: 5_000, idle_heartbeat: 1_000 } as const;

/** Heartbeats still missing this long after a stall began: the iterator is closed and made again. */
export const STALL_RESTART_MS = 2 * CONSUME_TIMING.expires;

export interface ConsumeWatch {
  /** Call for every message taken: the first one after a stall logs the resume. */
  received(): void;
  /** Resolves when the iterator's status stream ends. */
  done: Promise<void>;
  /** When the stall still open began: handed to the next iterator's watch after a restart. */
  stalledSince(): number | undefined;
}

/**
 * Logs the consumer's stalls (missed heartbeats, once per stall) and resumes (the first
 * message after one: a re-issued pull is not proof, it may go to a leader still missing),
 * and closes the iterator when its consumer or stream is gone, so the caller's loop makes it
 * again instead of pulling from nothing.
 */
export function watchConsume(
  messages: ConsumerMessages,
  log: Logger,
  consumer: string,
  now: () => number = Date.now,
  /** A stall the previous iterator left open (its resume is logged by this watch). */
  stalledBefore?: number,
): ConsumeWatch {
  let stalledAt: number | undefined = stalledBefore;
  const received = (): void => {
    if (stalledAt === undefined) return;
    log.info({ consumer, stalledMs: now() - stalledAt }, 'consumer resumed');
    stalledAt = undefined;
  };
  const done = (async () => {
    for await (const s of await messages.status()) {
      if (s.type === ConsumerEvents.HeartbeatsMissed) {
        if (stalledAt === undefined) {
          stalledAt = now();
          log.warn({ consumer, missed: s.data }, 'consumer stalled: heartbeats missed; re-pulling');
        } else if (now() - stalledAt >= STALL_RESTART_MS) {
          // nats.js's own re-pull has not brought anything back (seen after a leader's node
          // was killed): start over with a new consumer iterator.
          log.error(
            { consumer, stalledMs: now() - stalledAt },
            'consumer still stalled; restarting it',
          );
          await messages.close();
          break;
        }
      } else if (
        s.type === ConsumerEvents.ConsumerNotFound ||
        s.type === ConsumerEvents.StreamNotFound ||
        s.type === ConsumerEvents.ConsumerDeleted
      ) {
        log.error({ consumer, event: s.type }, 'consumer lost; recreating it');
        await messages.close();
        break;
      }
    }
  })();
  return { received, done: done.catch(() => undefined), stalledSince: () => stalledAt };
}
