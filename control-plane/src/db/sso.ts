/** SQL for single sign-on: the record of SSO tokens already used. */
import type { Queryable } from './pool.js';

/**
 * Record an SSO token as used; returns false when it was already used (a replay).
 * Expired records are swept on the way, so the table stays as small as the window.
 */
export async function claimSsoToken(
  db: Queryable,
  t: { tokenHash: string; uuid: string; expiresAt: Date },
): Promise<boolean> {
  await db.query('delete from sso_tokens_used where expires_at < now()');
  const res = await db.query(
    `insert into sso_tokens_used (token_hash, resource_uuid, expires_at) values ($1, $2, $3)
     on conflict (token_hash) do nothing`,
    [t.tokenHash, t.uuid, t.expiresAt],
  );
  return res.rowCount === 1;
}
