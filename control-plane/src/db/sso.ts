/** SQL for single sign-on: the record of SSO tokens already used. */
import type { Queryable } from './pool.js';

/**
 * Record the deciding proof of one SSO login as used; false when it was used before (a
 * replay). `alsoSpends` is recorded too, whether or not it was seen. Expired records are
 * swept on the way, so the table stays as small as the window.
 */
export async function claimSsoToken(
  db: Queryable,
  t: { tokenHash: string; alsoSpends?: string; uuid: string; expiresAt: Date },
): Promise<boolean> {
  await db.query('delete from sso_tokens_used where expires_at < now()');
  const insert = `insert into sso_tokens_used (token_hash, resource_uuid, expires_at) values ($1, $2, $3)
     on conflict (token_hash) do nothing`;
  if (t.alsoSpends) await db.query(insert, [t.alsoSpends, t.uuid, t.expiresAt]);
  const res = await db.query(insert, [t.tokenHash, t.uuid, t.expiresAt]);
  return res.rowCount === 1;
}
