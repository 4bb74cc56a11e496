/**
 * Runs the durable queue of calls to Heroku (grant exchange, config PATCH, provision and
 * deprovision actions, app log lines; send-call.ts sends them). Exponential backoff with
 * jitter. Rate limits are scoped to what they limit: one add-on's token pauses that token's
 * calls (send-call.ts), a 429 from the OAuth endpoint, which is not about one add-on, pauses
 * every call on this replica. Calls of an add-on Heroku has removed are dropped, not sent, and
 * its tokens deleted (gone-addons.ts). A call that succeeded is never sent again (its row is
 * finished in the same transaction that holds its lock).
 */
import type { Logger } from '../../../shared/src/logger.js';
import type { Sealer } from '../crypto.js';
import { CALL_KINDS, claimDueCall, HEROKU_CALLS_CHANNEL, type CallKind } from '../db/calls.js';
import { wakeups, type Listener } from '../db/listen.js';
import { withTransaction, type Pool } from '../db/pool.js';
import { createGoneAddons } from './gone-addons.js';
import type { OAuthSettings } from './oauth.js';
import { DEFAULT_PAUSES } from './rate-limit.js';
import { createCallSender } from './send-call.js';
import { recordFailure, recordSuccess, type AttemptContext } from './call-outcome.js';

export interface CallWorkerDeps {
  pool: Pool;
  databaseUrl: string;
  sealer: Sealer;
  keyId: string;
  log: Logger;
  apiUrl: string;
  oauth: OAuthSettings;
  concurrency?: number;
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
}

export interface CallWorker {
  start(): Promise<void>;
  runOnce(): Promise<boolean>;
  /** Claim due calls now (new calls were committed on this replica). */
  kick(): void;
  stop(): Promise<void>;
}

export function createCallWorker(deps: CallWorkerDeps): CallWorker {
  const knownKinds = deps.knownKinds ?? CALL_KINDS;
  const pauses = {
    limitedMs: deps.limitedPauseMs ?? DEFAULT_PAUSES.limitedMs,
    exhaustedMs: deps.exhaustedPauseMs ?? DEFAULT_PAUSES.exhaustedMs,
  };
  const sendCall = createCallSender({ ...deps, pauses });
  const attempt: AttemptContext = {
    log: deps.log,
    maxAttempts: deps.maxAttempts ?? 25,
    pauseReplica(call, pauseMs) {
      pausedUntil = Math.max(pausedUntil, Date.now() + pauseMs);
      deps.log.warn(
        { resourceId: call.resource_uuid, call: call.kind, status: 429, pauseMs },
        'heroku rate limit: all calls on this replica paused',
      );
    },
  };
  const gone = createGoneAddons({ pool: deps.pool, log: deps.log, sweepMs: deps.goneSweepMs });
  // Pause for limits that are not about one add-on (the OAuth endpoint). In memory: each
  // replica meets such a limit, and waits it out, on its own.
  let pausedUntil = 0;
  let stopped = false;
  let wake: Listener | undefined;
  const running = new Set<Promise<void>>();

  async function runOnce(): Promise<boolean> {
    if (Date.now() < pausedUntil) return false;
    return withTransaction(deps.pool, async (client) => {
      const call = await claimDueCall(client, knownKinds);
      if (!call) return false;
      if (await gone.dropIfGone(client, call)) return true;
      let goneNow: boolean | undefined;
      try {
        await sendCall(client, call);
        goneNow = (await recordSuccess(client, attempt, call)).gone;
      } catch (err) {
        await recordFailure(client, attempt, call, err);
      }
      await gone.afterCall(client, call.resource_uuid, goneNow);
      return true;
    });
  }

  function kick(): void {
    const slots = (deps.concurrency ?? 4) - running.size;
    for (let i = 0; i < slots && !stopped; i++) {
      const p: Promise<void> = (async () => {
        try {
          while (!stopped && (await runOnce()));
        } catch (err) {
          deps.log.error({ err }, 'heroku call worker error');
        }
      })().finally(() => running.delete(p));
      running.add(p);
    }
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
      gone.start();
    },
    runOnce,
    kick,
    async stop() {
      stopped = true;
      await wake?.close();
      await Promise.all(running);
      await gone.stop();
    },
  };
}
