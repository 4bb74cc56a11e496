/** SQL for heroku_tokens (values arrive already encrypted). */
import { audit } from './audit.js';
import {
  ADDON_GONE_SQL,
  AUTHORIZED_CALL_KINDS,
  dropCallsOfGoneAddons,
  type DroppedCall,
} from './calls.js';
import { prepared, type Queryable } from './pool.js';

const SAVE_TOKENS = prepared(
  'save_tokens',
  `insert into heroku_tokens (resource_uuid, access_token_enc, refresh_token_enc, expires_at, key_id)
     values ($1, $2, $3, $4, $5)
     on conflict (resource_uuid) do update set access_token_enc = excluded.access_token_enc,
       refresh_token_enc = coalesce(excluded.refresh_token_enc, heroku_tokens.refresh_token_enc),
       expires_at = excluded.expires_at, key_id = excluded.key_id, updated_at = now()`,
);

export async function saveTokens(
  db: Queryable,
  t: { uuid: string; accessEnc: string; refreshEnc: string | null; expiresAt: Date; keyId: string },
): Promise<void> {
  await db.query(SAVE_TOKENS([t.uuid, t.accessEnc, t.refreshEnc, t.expiresAt, t.keyId]));
}

export interface TokenRow {
  resource_uuid: string;
  access_token_enc: string;
  refresh_token_enc: string | null;
  expires_at: Date;
}

export async function getTokens(db: Queryable, uuid: string): Promise<TokenRow | undefined> {
  return (await db.query<TokenRow>('select * from heroku_tokens where resource_uuid = $1', [uuid]))
    .rows[0];
}

/**
 * Hold the Platform API calls made with this add-on's token for `ms` (every replica reads it in
 * claimDueCall). From the clock, not the transaction start: the answer that asked for it came
 * later. A pause is never shortened.
 */
export async function pauseToken(db: Queryable, uuid: string, ms: number): Promise<void> {
  await db.query(
    `update heroku_tokens set rate_limited_until = greatest(rate_limited_until,
       clock_timestamp() + ($2::int * interval '1 millisecond')) where resource_uuid = $1`,
    [uuid, Math.round(ms)],
  );
}

export async function deleteTokens(db: Queryable, uuid: string): Promise<void> {
  await db.query('delete from heroku_tokens where resource_uuid = $1', [uuid]);
}

/**
 * Tokens of a lookup whose provision never got a resource (Heroku gave up retrying) are
 * useless after the grant window: remove those older than `olderThanS`.
 */
export async function deleteOrphanTokens(db: Queryable, olderThanS: number): Promise<number> {
  const res = await db.query(
    `delete from heroku_tokens t where t.created_at < now() - ($1::int * interval '1 second')
       and not exists (select 1 from resources r where r.uuid = t.resource_uuid)`,
    [olderThanS],
  );
  return res.rowCount ?? 0;
}

export interface GoneCleanup {
  /** Queued calls dropped because they needed the gone add-on's authorization. */
  dropped: DroppedCall[];
  /** Add-ons whose tokens were deleted. */
  deleted: string[];
}

/**
 * Once an add-on is gone (ADDON_GONE_SQL) Heroku has removed our authorization for it, so no
 * queued call can use its tokens any more: the calls that need them are dropped (audited) and
 * the tokens deleted in the same transaction, rather than kept while those calls retry into
 * 401s (a provision action retries for ever). Log lines (app_log) go to the app's
 * log_input_url, not through the token: they neither keep the tokens nor are dropped. A call
 * whose attempt is in flight (leased) keeps them until its worker calls this again after the
 * attempt.
 * `uuid` null sweeps every gone add-on (leftovers from before this rule, or a missed event).
 */
async function forgetGoneAddons(
  db: Queryable,
  uuid: string | null,
  ownCallId: string | null = null,
): Promise<GoneCleanup> {
  const dropped = await dropCallsOfGoneAddons(db, uuid, ownCallId);
  for (const call of dropped) {
    await audit(db, {
      uuid: call.resource_uuid,
      actor: 'system',
      action: `heroku_${call.kind}_dropped`,
      detail: { callId: call.id, reason: 'addon_gone' },
    });
  }
  const res = await db.query<{ resource_uuid: string }>(
    `delete from heroku_tokens t using resources r
      where r.uuid = t.resource_uuid and ($1::uuid is null or t.resource_uuid = $1) and ${ADDON_GONE_SQL}
        and not exists (select 1 from heroku_calls c where c.resource_uuid = t.resource_uuid
                          and c.state = 'pending' and c.kind = any($2::text[]))
      returning t.resource_uuid`,
    [uuid, AUTHORIZED_CALL_KINDS],
  );
  await forgetGoneSecrets(db, uuid);
  return { dropped, deleted: res.rows.map((r) => r.resource_uuid) };
}

/**
 * A gone add-on's sealed secrets are not kept either: the one-time grant at once, the app's
 * log_input_url (it carries logplex's credentials) once no log line for it is pending.
 */
async function forgetGoneSecrets(db: Queryable, uuid: string | null): Promise<void> {
  const logsPending = `exists (select 1 from heroku_calls c where c.resource_uuid = r.uuid
                                  and c.state = 'pending' and c.kind = 'app_log')`;
  await db.query(
    `update resources r set oauth_grant_enc = null,
       log_input_url_enc = case when ${logsPending} then r.log_input_url_enc end, updated_at = now()
      where ($1::uuid is null or r.uuid = $1) and ${ADDON_GONE_SQL}
        and (r.oauth_grant_enc is not null or (r.log_input_url_enc is not null and not ${logsPending}))`,
    [uuid],
  );
}

/**
 * The tokens of one add-on, if it is gone (see forgetGoneAddons): run when its deprovision is
 * applied (ops/messaging/apply-result.ts) and around each of its calls (call worker, which
 * names the call it holds in `ownCallId`: that one is dropped too, although it is leased).
 */
export async function deleteTokensIfGone(
  db: Queryable,
  uuid: string,
  ownCallId: string | null = null,
): Promise<GoneCleanup> {
  return forgetGoneAddons(db, uuid, ownCallId);
}

const SWEEP_LOCK_KEY = 7_242_002; // arbitrary, constant: one gone-add-on sweep at a time

/**
 * The tokens of every add-on that is gone (see forgetGoneAddons); a periodic sweep, run in a
 * transaction. Replicas take turns (a transaction-scoped advisory lock): two sweeps deleting
 * the same rows in different orders could deadlock; the one that finds it taken does nothing.
 */
export async function deleteTokensOfGoneAddons(db: Queryable): Promise<GoneCleanup> {
  const lock = await db.query<{ ok: boolean }>('select pg_try_advisory_xact_lock($1) as ok', [
    SWEEP_LOCK_KEY,
  ]);
  if (!lock.rows[0]?.ok) return { dropped: [], deleted: [] };
  return forgetGoneAddons(db, null);
}
