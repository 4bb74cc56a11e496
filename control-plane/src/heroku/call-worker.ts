/**
 * Runs the durable queue of calls to Heroku (grant exchange, config PATCH, provision and
 * deprovision actions, app log lines; send-call.ts sends them). Up to `concurrency` calls are
 * in flight at once: a claim leases a batch of due calls in one short statement
 * (db/calls.ts claimDueCalls) and each is sent and recorded on its own, so one slow answer
 * holds up nothing but itself and no row lock is held while Heroku answers. A call is sent
 * at least once: a replica that dies mid-attempt leaves it due again when its lease ends (a
 * live one renews the leases of its attempts).
 * Exponential backoff with jitter. Rate limits are scoped to what they limit: one add-on's
 * token pauses that token's calls (send-call.ts), a 429 from the OAuth endpoint, which is not
 * about one add-on, pauses every call on this replica. Calls of an add-on Heroku has removed
 * are dropped, not sent, and its tokens deleted (gone-addons.ts).
 */
import { SpanKind } from '@opentelemetry/api';
import type { Logger } from '../../../shared/src/logger.js';
import {
  contextFromTraceparent,
  failActiveSpan,
  inSpan,
} from '../../../shared/src/tracing/context.js';
import type { Sealer } from '../crypto.js';
import {
  CALL_KINDS,
  claimDueCalls,
  finishSentCalls,
  HEROKU_CALLS_CHANNEL,
  renewCallLeases,
  type CallKind,
  type ClaimedCall,
  type FinishedCall,
} from '../db/calls.js';
import { coalescing } from '../coalescing.js';
import { wakeups, type Listener } from '../db/listen.js';
import { withTransaction, type Pool } from '../db/pool.js';
import { createGoneAddons, type GoneAddons } from './gone-addons.js';
import type { OAuthSettings } from './oauth.js';
import { DEFAULT_PAUSES } from './rate-limit.js';
import { createCallSender, type SendCall } from './send-call.js';
import { createBatcher, type Batcher } from '../../../shared/src/batcher.js';
import { logSuccess, recordFailure, type AttemptContext } from './call-outcome.js';

export interface CallWorkerDeps {
  pool: Pool;
  databaseUrl: string;
  sealer: Sealer;
  keyId: string;
  log: Logger;
  apiUrl: string;
  oauth: OAuthSettings;
  /** Calls in flight at once (default 32). */
  concurrency?: number;
  /**
   * How long a claimed call is leased to its attempt (default 10 s), renewed every third of
   * that while the attempt runs: how long a replica that died holds up its calls.
   */
  leaseMs?: number;
  pollMs?: number;
  maxAttempts?: number;
  userAgent?: string;
  /** Kinds this worker claims (default: all this build can send); tests use it to act as an older build. */
  knownKinds?: readonly CallKind[];
  /** Pause after a 429 that names no Retry-After (default 5 s). */
  limitedPauseMs?: number;
  /** Pause after RateLimit-Remaining: 0 without Retry-After (default 60 s). */
  exhaustedPauseMs?: number;
  /** Between sweeps for tokens of removed add-ons (gone-addons.ts; default 10 minutes). */
  goneSweepMs?: number;
  metrics?: AttemptContext['metrics'];
}

export interface CallWorker {
  start(): Promise<void>;
  /** Claim one batch of due calls and attempt them all; false when none was due. */
  runOnce(): Promise<boolean>;
  /** Claim due calls now (new calls were committed on this replica). */
  kick(): void;
  stop(): Promise<void>;
}

/** Calls leased per claim statement, at most. */
const CLAIM_BATCH = 50;

/**
 * Claim passes start at least this far apart. Without it every completion and every accept
 * ran a claim statement for the one or two calls due since the last (4 per claim, 4 ms of
 * PostgreSQL each, in the acceptance bench: the largest share of its database time).
 */
const CLAIM_GAP_MS = 10;

interface Attempter {
  pool: Pool;
  sendCall: SendCall;
  /**
   * Successes of concurrent attempts, finished together in one statement, which also leases
   * each add-on's next due call (chained: sent at once, without waiting for a claim).
   */
  finished: Batcher<ClaimedCall, FinishedCall>;
  attempt: AttemptContext;
  gone: GoneAddons;
}

/**
 * One attempt at a leased call: dropped, or sent and recorded (success, or retry/failure).
 * Returns the add-on's next call when its finish leased it.
 */
async function attemptCall(a: Attempter, call: ClaimedCall): Promise<ClaimedCall | undefined> {
  const { pool, gone } = a;
  if (call.gone && (await withTransaction(pool, (c) => gone.dropIfGone(c, call)))) return undefined;
  let sent = false;
  try {
    await a.sendCall(pool, call);
    sent = true;
  } catch (err) {
    failActiveSpan(err);
    await withTransaction(pool, (c) => recordFailure(c, a.attempt, call, err));
  }
  // After a failure afterCall reads whether the add-on is gone; a success's finish read it.
  const finished = sent ? await a.finished.add(call) : undefined;
  if (sent) logSuccess(a.attempt, call);
  if (finished?.gone !== false)
    await withTransaction(pool, (c) => gone.afterCall(c, call.resource_uuid, finished?.gone));
  return finished?.next;
}

/** attemptCall in the trace the call was enqueued in (its HTTP request is a child span). */
function attemptTraced(a: Attempter, call: ClaimedCall): Promise<ClaimedCall | undefined> {
  const attributes = {
    'addon.resource.id': call.resource_uuid,
    'addon.heroku_call.kind': call.kind,
    'addon.heroku_call.attempt': call.attempts + 1,
  };
  const parent = contextFromTraceparent(call.traceparent);
  return inSpan(`heroku ${call.kind}`, { kind: SpanKind.INTERNAL, attributes, parent }, () =>
    attemptCall(a, call),
  );
}

/** attemptCall, never rejecting: what it could not record is due again when its lease ends. */
async function attemptLogged(
  a: Attempter,
  log: Logger,
  call: ClaimedCall,
): Promise<ClaimedCall | undefined> {
  try {
    return await attemptTraced(a, call);
  } catch (err) {
    log.error(
      { err, resourceId: call.resource_uuid, call: call.kind },
      'heroku call attempt not recorded; it is due again when its lease ends',
    );
    return undefined;
  }
}

function attempter(
  deps: CallWorkerDeps,
  pauseReplica: AttemptContext['pauseReplica'],
  chain: () => { kinds: readonly CallKind[]; leaseMs: number } | undefined,
): Attempter {
  const pauses = {
    limitedMs: deps.limitedPauseMs ?? DEFAULT_PAUSES.limitedMs,
    exhaustedMs: deps.exhaustedPauseMs ?? DEFAULT_PAUSES.exhaustedMs,
  };
  return {
    pool: deps.pool,
    sendCall: createCallSender({ ...deps, pauses }),
    finished: createBatcher((calls: ClaimedCall[]) => finishSentCalls(deps.pool, calls, chain())),
    attempt: {
      log: deps.log,
      maxAttempts: deps.maxAttempts ?? 25,
      pauseReplica,
      metrics: deps.metrics,
    },
    gone: createGoneAddons({ pool: deps.pool, log: deps.log, sweepMs: deps.goneSweepMs }),
  };
}

/**
 * Pause for limits that are not about one add-on (the OAuth endpoint). In memory: each
 * replica meets such a limit, and waits it out, on its own.
 */
function replicaPause(log: Logger): {
  pause: AttemptContext['pauseReplica'];
  active: () => boolean;
} {
  let pausedUntil = 0;
  return {
    pause(call, pauseMs) {
      pausedUntil = Math.max(pausedUntil, Date.now() + pauseMs);
      log.warn(
        { resourceId: call.resource_uuid, call: call.kind, status: 429, pauseMs },
        'heroku rate limit: all calls on this replica paused',
      );
    },
    active: () => Date.now() < pausedUntil,
  };
}

interface ClaimPump {
  /** Claim now: new calls may be due (a wake-up, an accept on this replica). */
  kick(): void;
  /** A slot was freed: claim if the last claim left some due calls unclaimed. */
  freed(): void;
  stop(): Promise<void>;
}

/**
 * Fills the free slots, one claim at a time, until one brings fewer than asked (nothing more
 * is due); wake-ups meanwhile fold into one more pass, CLAIM_GAP_MS after its start. A freed
 * slot claims again only when more may be due: the last claim came back full, or a wake-up
 * arrived since it began. At low load every completion otherwise ran a claim (a transaction
 * of four round trips) that found nothing, five per provision in the end-to-end bench. Calls
 * that come due later (a retry's backoff) are found by the sweep, whose wake-up kicks.
 */
function claimPump(p: {
  free: () => number;
  claim: (limit: number) => Promise<ClaimedCall[]>;
  launch: (call: ClaimedCall) => void;
  log: Logger;
}): ClaimPump {
  let moreMayBeDue = true;
  const pass = coalescing(
    async () => {
      try {
        for (;;) {
          const asked = Math.min(p.free(), CLAIM_BATCH);
          if (asked <= 0) return; // every slot busy: a completion claims again
          moreMayBeDue = false;
          const calls = await p.claim(asked);
          calls.forEach(p.launch);
          if (calls.length < asked) return;
          moreMayBeDue = true;
        }
      } catch (err) {
        moreMayBeDue = true; // the claim did not answer: the next completion tries again
        p.log.error({ err }, 'heroku call worker error');
      }
    },
    { minGapMs: CLAIM_GAP_MS },
  );
  return {
    kick() {
      moreMayBeDue = true;
      pass.kick();
    },
    freed() {
      if (moreMayBeDue) pass.kick();
    },
    stop: () => pass.stop(),
  };
}

export function createCallWorker(deps: CallWorkerDeps): CallWorker {
  const knownKinds = deps.knownKinds ?? CALL_KINDS;
  const maxInFlight = deps.concurrency ?? 32;
  const leaseMs = deps.leaseMs ?? 10_000;
  const paused = replicaPause(deps.log);
  let stopped = false;
  // A stopping worker chains nothing: it would leave the next call leased to nobody.
  const a = attempter(deps, paused.pause, () =>
    stopped || paused.active() ? undefined : { kinds: knownKinds, leaseMs },
  );
  let wake: Listener | undefined;
  let renewal: NodeJS.Timeout | undefined;
  const inFlight = new Map<string, Promise<void>>();

  /** Settles once the call, and the calls chained after it, were attempted. */
  function launch(call: ClaimedCall): Promise<void> {
    const p: Promise<void> = attemptLogged(a, deps.log, call).then((next) => {
      inFlight.delete(call.id);
      // The add-on's next call, leased by this one's finish, takes its slot at once (one chained
      // while stop() began is left to its lease); else a slot is free for whatever is due.
      if (next && !stopped) return launch(next);
      if (wake && !stopped) pump.freed();
    });
    inFlight.set(call.id, p);
    return p;
  }

  async function claim(limit: number): Promise<ClaimedCall[]> {
    if (stopped || paused.active() || limit <= 0) return [];
    return claimDueCalls(deps.pool, knownKinds, Math.min(limit, CLAIM_BATCH), leaseMs);
  }

  const pump = claimPump({
    free: () => maxInFlight - inFlight.size,
    claim,
    launch: (call) => void launch(call),
    log: deps.log,
  });
  const kick = pump.kick;

  /** A live worker keeps its leases: only a replica that died leaves its calls to others. */
  function renewLeases(): void {
    renewCallLeases(deps.pool, [...inFlight.keys()], leaseMs).catch((err: unknown) =>
      deps.log.warn({ err }, 'heroku call leases not renewed; retried shortly'),
    );
  }

  return {
    async start() {
      wake = await wakeups(
        {
          databaseUrl: deps.databaseUrl,
          channel: HEROKU_CALLS_CHANNEL,
          name: 'heroku calls',
          log: deps.log,
          sweepMs: deps.pollMs ?? 1000,
        },
        kick,
      );
      renewal = setInterval(renewLeases, Math.max(100, Math.floor(leaseMs / 3)));
      a.gone.start();
    },
    async runOnce() {
      const calls = await claim(CLAIM_BATCH);
      await Promise.all(calls.map(launch));
      return calls.length > 0;
    },
    kick,
    async stop() {
      stopped = true;
      await wake?.close();
      await pump.stop();
      await Promise.all(inFlight.values());
      await a.finished.drain();
      if (renewal) clearInterval(renewal);
      await a.gone.stop();
    },
  };
}
