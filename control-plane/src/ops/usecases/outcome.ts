/**
 * What a Heroku-facing use case decides, before anyone speaks HTTP (http/heroku-routes.ts
 * maps each kind to its status: ready 200, pending 202, removed 204, refused 422).
 *
 * `pending` is a promise: Heroku leaves the add-on "provisioning" (or the old config in place)
 * until we PATCH the config and, for a provision, call the provision action. So the promise is
 * written down before the outcome exists: `pending()` sets the operation's answer_async flag
 * (enqueueing the completion at once if the operation already finished), and the result
 * applier enqueues the completion for every flagged operation that finishes later. The only
 * way to build a Pending is `pending()`, or `pendingFlaggedAtInsert()` with the proof that the
 * accepting insert wrote the flag itself: it carries a brand no other code can produce, so a
 * new path that answers 202 cannot forget the flag and still compile.
 *
 * Why not complete every operation that had a grant unless a 200 was recorded (the handler
 * might have died)? At finish time an unrecorded answer is usually a handler still inside
 * its sync budget, about to answer 200 with config. Completing those would PATCH config on an
 * add-on Heroku already provisioned (a new release: every attached app restarts) and call the
 * provision action Heroku no longer expects. And a handler that died without recording a
 * pending outcome sent Heroku nothing: Heroku retries, and the retry answers from the durable
 * state (ready with config once finished, else pending through `pending()`).
 */
import { UnprocessableError } from '../../../../shared/src/errors.js';
import type { Sealer } from '../../crypto.js';
import type { Pool } from '../../db/pool.js';
import type { AsyncFlagWritten } from '../../db/resources.js';
import { markAnsweredAsync, type AsyncFailureAction } from '../completion/completion.js';

declare const asyncRecorded: unique symbol;

/** Done: the add-on (or its new plan) works now; `config` when Heroku should get it now. */
export interface Ready {
  kind: 'ready';
  id: string;
  config?: Record<string, string>;
  message: string;
}

/** Accepted and still running; Heroku hears the end through the Platform API. */
export interface Pending {
  kind: 'pending';
  id: string;
  message: string;
  readonly [asyncRecorded]: true;
}

/** Deprovision accepted (or nothing to remove). */
export interface Removed {
  kind: 'removed';
}

/** Cannot be honoured as asked; `message` is for the customer (Heroku shows it verbatim). */
export interface Refused {
  kind: 'refused';
  code: string;
  message: string;
}

export type Outcome = Ready | Pending | Removed | Refused;

export interface PendingDeps {
  pool: Pool;
  sealer: Sealer;
  asyncFailureAction: AsyncFailureAction;
}

/** Records that Heroku is owed the async completion of `operationId`, then builds the outcome. */
export async function pending(
  deps: PendingDeps,
  operationId: string,
  body: { id: string; message: string },
): Promise<Pending> {
  await markAnsweredAsync(deps.pool, deps.sealer, operationId, deps.asyncFailureAction);
  return { kind: 'pending', ...body } as Pending;
}

/** Pending, when the accepting insert itself flagged the operation (insertProvision). */
export function pendingFlaggedAtInsert(
  _proof: AsyncFlagWritten,
  body: { id: string; message: string },
): Pending {
  return { kind: 'pending', ...body } as Pending;
}

export function refused(code: string, message: string): Refused {
  return { kind: 'refused', code, message };
}

/**
 * Runs a use case; a refusal thrown from below (catalog and placement checks throw
 * UnprocessableError) becomes a `refused` outcome like the ones decided here.
 */
export async function outcomeOf(run: () => Promise<Outcome>): Promise<Outcome> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof UnprocessableError) return refused(err.code, err.message);
    throw err;
  }
}
