/**
 * What one attempt at a Heroku call leaves behind: a finished row, or a retry with backoff
 * (at least as long as a rate limit asked), audited and logged with the HTTP status.
 */
import type { Logger } from '../../../shared/src/logger.js';
import { audit } from '../db/audit.js';
import { finishCall, retryCall, type CallRow } from '../db/calls.js';
import type { Queryable } from '../db/pool.js';
import { OAuthRateLimitedError, OAuthRefusedError } from './oauth.js';
import { HttpError } from './send-call.js';
import type { ControlPlaneMetrics } from '../metrics/metrics.js';

export interface AttemptContext {
  log: Logger;
  maxAttempts: number;
  /** A limit not about one add-on (the OAuth endpoint): pause the whole replica. */
  pauseReplica(call: CallRow, pauseMs: number): void;
  metrics?: ControlPlaneMetrics;
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
  if (err instanceof HttpError || err instanceof OAuthRefusedError) return err.status;
  return err instanceof OAuthRateLimitedError ? 429 : null;
}

/** What went wrong, for the log and the call's last_error: the HTTP status and Heroku's words. */
function describe(err: unknown): string {
  if (err instanceof OAuthRefusedError) return err.detail;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Whether retrying cannot help. A grant or refresh token Heroku's identity service refused
 * (4xx) can never be exchanged: every kind fails for good. The provision action is otherwise
 * retried until it succeeds (it is what ends "provisioning" at Heroku), except when Heroku
 * says the add-on is not there (404) or no longer waiting for it (a 422 whose state check in
 * send-call.ts found it neither provisioning nor provisioned): then no attempt can succeed.
 */
function permanent(ctx: AttemptContext, call: CallRow, err: unknown): boolean {
  if (err instanceof OAuthRefusedError) return err.final;
  if (call.kind === 'provision_action')
    return err instanceof HttpError && (err.status === 404 || err.final);
  if (call.attempts + 1 >= ctx.maxAttempts) return true;
  if (err instanceof HttpError)
    return err.status >= 400 && err.status < 500 && err.status !== 429 && err.status !== 401;
  return false;
}

/** A call that succeeded was finished and audited (db/calls.ts finishSentCalls); say so. */
export function logSuccess(ctx: AttemptContext, call: CallRow): void {
  ctx.metrics?.herokuCall(call.kind, 'ok');
  ctx.log.info(
    { resourceId: call.resource_uuid, call: call.kind, attempts: call.attempts + 1 },
    'heroku call succeeded',
  );
}

export async function recordFailure(
  client: Queryable,
  ctx: AttemptContext,
  call: CallRow,
  err: unknown,
): Promise<void> {
  const status = statusOf(err);
  const message = describe(err);
  if (permanent(ctx, call, err)) {
    await finishCall(client, call.id, 'failed', status, message);
    ctx.metrics?.herokuCall(call.kind, 'failed');
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
  ctx.metrics?.herokuCall(call.kind, pauseMs === undefined ? 'retry' : 'rate_limited');
  ctx.log.warn(
    {
      resourceId: call.resource_uuid,
      call: call.kind,
      status,
      err: message,
      attempts: call.attempts + 1,
      retryInMs: Math.round(delay),
    },
    'heroku call will be retried',
  );
}
