/**
 * What one attempt at a Heroku call leaves behind: a finished row, or a retry with backoff
 * (at least as long as a rate limit asked), audited and logged with the HTTP status.
 */
import type { Logger } from '../../../shared/src/logger.js';
import { audit } from '../db/audit.js';
import { finishCall, finishSentCall, retryCall, type CallRow } from '../db/calls.js';
import type { PoolClient } from '../db/pool.js';
import { OAuthRateLimitedError } from './oauth.js';
import { HttpError } from './send-call.js';

export interface AttemptContext {
  log: Logger;
  maxAttempts: number;
  /** A limit not about one add-on (the OAuth endpoint): pause the whole replica. */
  pauseReplica(call: CallRow, pauseMs: number): void;
}

export function backoffMs(attempt: number, random = Math.random): number {
  const base = Math.min(300_000, 1000 * 2 ** Math.min(attempt, 10));
  return base / 2 + random() * (base / 2);
}

/** How long a failed attempt asks us to leave what it limits alone, if it was a rate limit. */
function limitPauseMs(err: unknown): number | undefined {
  if (err instanceof HttpError) return err.pauseMs;
  if (err instanceof OAuthRateLimitedError) return err.retryAfterMs;
  return undefined;
}

function statusOf(err: unknown): number | null {
  if (err instanceof HttpError) return err.status;
  return err instanceof OAuthRateLimitedError ? 429 : null;
}

function permanent(ctx: AttemptContext, call: CallRow, err: unknown): boolean {
  if (call.kind === 'provision_action') return false; // retried until it succeeds
  if (call.attempts + 1 >= ctx.maxAttempts) return true;
  if (err instanceof HttpError)
    return err.status >= 400 && err.status < 500 && err.status !== 429 && err.status !== 401;
  return false;
}

/** Finished and audited in one statement, which also reads whether the add-on is gone now. */
export async function recordSuccess(
  client: PoolClient,
  ctx: AttemptContext,
  call: CallRow,
): Promise<{ gone: boolean }> {
  const after = await finishSentCall(client, call);
  const attempts = call.attempts + 1;
  ctx.log.info(
    { resourceId: call.resource_uuid, call: call.kind, attempts },
    'heroku call succeeded',
  );
  return after;
}

export async function recordFailure(
  client: PoolClient,
  ctx: AttemptContext,
  call: CallRow,
  err: unknown,
): Promise<void> {
  const status = statusOf(err);
  const message = (err as Error).message;
  if (permanent(ctx, call, err)) {
    await finishCall(client, call.id, 'failed', status, message);
    await audit(client, {
      uuid: call.resource_uuid,
      actor: 'system',
      action: `heroku_${call.kind}_failed`,
      detail: { status, message },
    });
    ctx.log.error(
      { resourceId: call.resource_uuid, call: call.kind, status, err: message },
      'heroku call failed for good',
    );
    return;
  }
  const pauseMs = limitPauseMs(err);
  if (pauseMs !== undefined && err instanceof OAuthRateLimitedError)
    ctx.pauseReplica(call, pauseMs);
  const delay = Math.max(pauseMs ?? 0, backoffMs(call.attempts));
  await retryCall(client, call.id, delay, status, message);
  ctx.log.warn(
    { resourceId: call.resource_uuid, call: call.kind, status, retryInMs: Math.round(delay) },
    'heroku call will be retried',
  );
}
