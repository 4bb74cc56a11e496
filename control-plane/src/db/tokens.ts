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
  return (await db.query<TokenRow>('select * from heroku_tokens where resource_uuid = $1', [uuid])).rows[0];
}
