/**
 * Heroku's answers to the partner API, as the domain returns them (http/ maps them).
 *
 * A 202 is a promise: Heroku leaves the add-on "provisioning" (or the old config in place)
 * until we PATCH the config and, for a provision, call the provision action. So the promise
 * is written down before the answer exists: `answerAsync` sets the operation's answer_async
 * flag (enqueueing the completion at once if the operation already finished), and the result
 * applier enqueues the completion for every flagged operation that finishes later. The only
 * way to build a 202 is `answerAsync`: the 202 variant carries a brand no other code can
 * produce, so a new path that answers 202 cannot forget the flag and still compile.
 *
 * Why not complete every operation that had a grant unless a 200 was recorded (the handler
 * might have died)? At finish time an unrecorded answer is usually a handler still inside
 * its sync budget, about to answer 200 with config. Completing those would PATCH config on an
 * add-on Heroku already provisioned (a new release: every attached app restarts) and call the
 * provision action Heroku no longer expects. And a handler that died without recording a
 * 202 sent Heroku nothing: Heroku retries, and the retry answers from the durable state
 * (200 with config once finished, else a 202 through answerAsync).
 */
import type { Sealer } from '../../crypto.js';
import type { Pool } from '../../db/pool.js';
import { markAnsweredAsync, type AsyncFailureAction } from '../completion/completion.js';

declare const asyncRecorded: unique symbol;

export interface SyncAnswer {
  status: 200;
  body: { id: string; config?: Record<string, string>; message: string };
}

/** A 202 whose completion is on record: build it with answerAsync only. */
export interface AsyncAnswer {
  status: 202;
  body: { id: string; message: string };
  readonly [asyncRecorded]: true;
}

export interface NoContentAnswer {
  status: 204;
}

export type Answer = SyncAnswer | AsyncAnswer | NoContentAnswer;

export interface AsyncAnswerDeps {
  pool: Pool;
  sealer: Sealer;
  asyncFailureAction: AsyncFailureAction;
}

/** Records that Heroku is owed the async completion of `operationId`, then builds the 202. */
export async function answerAsync(
  deps: AsyncAnswerDeps,
  operationId: string,
  body: AsyncAnswer['body'],
): Promise<AsyncAnswer> {
  await markAnsweredAsync(deps.pool, deps.sealer, operationId, deps.asyncFailureAction);
  return { status: 202, body } as AsyncAnswer;
}
