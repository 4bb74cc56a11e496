/** SQL for heroku_tokens (values arrive already encrypted). */
import type { Queryable } from './pool.js';

export async function saveTokens(
  db: Queryable,
  t: { uuid: string; accessEnc: string; refreshEnc: string | null; expiresAt: Date; keyId: string },
): Promise<void> {
  await db.query(
    `insert into heroku_tokens (resource_uuid, access_token_enc, refresh_token_enc, expires_at, key_id)
     values ($1, $2, $3, $4, $5)
     on conflict (resource_uuid) do update set access_token_enc = excluded.access_token_enc,
       refresh_token_enc = coalesce(excluded.refresh_token_enc, heroku_tokens.refresh_token_enc),
       expires_at = excluded.expires_at, key_id = excluded.key_id, updated_at = now()`,
    [t.uuid, t.accessEnc, t.refreshEnc, t.expiresAt, t.keyId],
  );
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

/**
 * An add-on that is gone needs no Platform API access once nothing queued for it does:
 * delete its tokens then (called after its deprovision and after each of its calls).
 */
export async function deleteTokensIfGone(db: Queryable, uuid: string): Promise<boolean> {
  const res = await db.query(
    `delete from heroku_tokens where resource_uuid = $1
       and exists (select 1 from resources where uuid = $1 and state = 'deprovisioned')
       and not exists (select 1 from heroku_calls where resource_uuid = $1 and state = 'pending')`,
    [uuid],
  );
  return (res.rowCount ?? 0) > 0;
}
