/**
 * Settings and a watchdog for long-running JetStream `consume()` loops. nats.js's defaults
 * (30 s expiry, 15 s idle heartbeat, two misses) notice a pull request lost with a NATS node
 * only after ~30 s, and retry a failed consumer lookup after another 30 s, silently. In a
 * cluster that is every failover of a consumer's leader, so we ask for short pulls and
 * heartbeats, log every stall and every resume, and probe the consumer ourselves: nats.js
 * stops watching heartbeats while its connection is down and, when a consumer check is
 * already backing off at the reconnect, never starts watching again (a cluster run saw a
 * consumer stuck for 17–50 s with no status event at all).
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

/** How often an idle consumer (no message for this long) is asked how it stands. */
export const PROBE_EVERY_MS = 2 * CONSUME_TIMING.idle_heartbeat;

/** Failed probes in a row after which the iterator is closed and made again (~6 s). */
export const PROBE_RESTART_AFTER = 3;

/** What the server says of the consumer (its `info`). */
export interface ConsumerStanding {
  /** Messages not yet delivered to anyone (`num_pending`). */
  pending: number;
  /** Pull requests the server holds for this consumer (`num_waiting`). */
  waiting: number;
  /** Deliveries unacked at the consumer's `max_ack_pending`: the server holds back on purpose. */
  atAckLimit: boolean;
}

export interface ConsumeWatchOptions {
  now?: () => number;
  /** A stall the previous iterator left open (its resume is logged by this watch). */
  stalledBefore?: number;
  /** Reads the consumer's standing from the server; without it only heartbeats are watched. */
  probe?: () => Promise<ConsumerStanding>;
  probeEveryMs?: number;
}

export interface ConsumeWatch {
  /** Call for every message taken: the first one after a stall logs the resume. */
  received(): void;
  /** Wraps the loop's waits on its own handlers: an idle consumer is not probed meanwhile. */
  busy<T>(work: Promise<T>): Promise<T>;
  /** Resolves when the iterator's status stream ends. */
  done: Promise<void>;
  /** When the stall still open began: handed to the next iterator's watch after a restart. */
  stalledSince(): number | undefined;
}

/** Why a probe finds the consumer unable to deliver, or undefined when it can. */
function probeFault(s: ConsumerStanding): string | undefined {
  if (s.waiting === 0) return 'no pull request held by the server';
  if (s.pending > 0 && !s.atAckLimit) return 'messages pending, none delivered';
  return undefined;
}

interface StallHooks {
  stall(reason: string, data?: unknown): void;
  restart(why: string): Promise<void>;
  stalledFor(): number;
}

/** Follows the iterator's status events until it ends, is lost, or stays stalled too long. */
async function followStatus(messages: ConsumerMessages, hooks: StallHooks): Promise<void> {
  for await (const s of await messages.status()) {
    if (s.type === ConsumerEvents.HeartbeatsMissed) {
      hooks.stall('heartbeats missed', s.data);
      if (hooks.stalledFor() >= STALL_RESTART_MS) {
        // nats.js's own re-pull has not brought anything back: start over.
        await hooks.restart('heartbeats still missing');
        return;
      }
    } else if (
      s.type === ConsumerEvents.ConsumerNotFound ||
      s.type === ConsumerEvents.StreamNotFound ||
      s.type === ConsumerEvents.ConsumerDeleted
    ) {
      await hooks.restart(`lost: ${s.type}`);
      return;
    }
  }
}

/**
 * Logs the consumer's stalls (missed heartbeats, or a probe that finds no pull held by the
 * server or messages left undelivered; once per stall) and resumes (the first message after
 * one, or a probe that finds the consumer sound), and closes the iterator when its consumer
 * or stream is gone or a stall outlasts its bound, so the caller's loop makes it again.
 */
export function watchConsume(
  messages: ConsumerMessages,
  log: Logger,
  consumer: string,
  opts: ConsumeWatchOptions = {},
): ConsumeWatch {
  const now = opts.now ?? Date.now;
  let stalledAt: number | undefined = opts.stalledBefore;
  let lastActive = now();
  let held = 0;
  let faults = 0;
  let closing = false;
  const stall = (reason: string, data?: unknown): void => {
    if (stalledAt !== undefined) return;
    stalledAt = now();
    log.warn({ consumer, reason, data }, 'consumer stalled');
  };
  const resume = (via: string): void => {
    faults = 0;
    if (stalledAt === undefined) return;
    log.info({ consumer, via, stalledMs: now() - stalledAt }, 'consumer resumed');
    stalledAt = undefined;
  };
  const stalledFor = (): number => (stalledAt === undefined ? 0 : now() - stalledAt);
  const restart = async (why: string): Promise<void> => {
    if (closing) return;
    closing = true;
    log.error({ consumer, why, stalledMs: stalledFor() }, 'consumer restarting');
    await messages.close();
  };

  const probeEveryMs = opts.probeEveryMs ?? PROBE_EVERY_MS;
  const probeOnce = async (probe: () => Promise<ConsumerStanding>): Promise<void> => {
    if (held > 0 || closing || now() - lastActive < probeEveryMs) return;
    let fault: string | undefined;
    try {
      fault = probeFault(await probe());
    } catch (err) {
      fault = `consumer info failed: ${(err as Error).message}`;
    }
    if (fault === undefined) return resume('probe');
    stall(fault);
    if (++faults >= PROBE_RESTART_AFTER) await restart(fault);
  };
  // Without a probe only heartbeats are watched: no timer.
  const { probe } = opts;
  let probing = false;
  const timer =
    probe &&
    setInterval(() => {
      if (probing) return;
      probing = true;
      void probeOnce(probe).finally(() => (probing = false));
    }, probeEveryMs);
  timer?.unref();

  const done = followStatus(messages, { stall, restart, stalledFor }).finally(() =>
    clearInterval(timer),
  );

  return {
    received() {
      lastActive = now();
      resume('message');
    },
    async busy(work) {
      held++;
      try {
        return await work;
      } finally {
        held--;
        lastActive = now();
      }
    },
    done: done.catch(() => undefined),
    stalledSince: () => stalledAt,
  };
}
