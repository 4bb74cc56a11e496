/**
 * Verifying Heroku's SSO form (heroku-partner-api.md §7.3–7.4): the user-scoped token when
 * present (it binds user id and email), else the resource token; constant-time compares; a
 * timestamp inside the window. Pure: no I/O, the clock is passed in.
 */
import { createHash } from 'node:crypto';
import { safeEqual } from '../http/auth.js';

export interface SsoPolicy {
  salt: string;
  /** How old a timestamp may be (s). */
  windowS: number;
  /** How far in the future a timestamp may be (s). */
  maxSkewS: number;
}

export interface SsoLogin {
  uuid: string;
  email: string;
  userId: string;
  /**
   * The deciding proof, keyed on exactly what it binds: a `resource_token` proves uuid and
   * timestamp only, a `user_scoped_resource_token` also user id and email. Seen before: replay.
   */
  replayKey: string;
  /**
   * A valid resource token sent beside the user-scoped one: spent by this login, so the
   * captured form cannot come back with the resource token alone and another email. Another
   * user's user-scoped login in the same second still gets in (its own proof decides).
   */
  alsoSpends?: string;
  /** When the token stops being acceptable anyway. */
  expiresAt: Date;
}

export type SsoCheck = { ok: true; login: SsoLogin } | { ok: false; reason: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const hex = (algo: 'sha1' | 'sha256', s: string): string =>
  createHash(algo).update(s).digest('hex');

/** Checks on the fields' shape, before any hashing. */
function formProblem(
  uuid: string,
  timestamp: string,
  email: string,
  token: string,
): string | undefined {
  if (!UUID.test(uuid)) return 'bad_resource_id';
  if (!/^\d{1,12}$/.test(timestamp)) return 'bad_timestamp';
  if (!email) return 'missing_email';
  if (!token) return 'missing_token';
  return undefined;
}

export function verifySsoForm(
  form: Record<string, string>,
  policy: SsoPolicy,
  nowMs: number,
): SsoCheck {
  const uuid = (form.resource_id ?? '').toLowerCase();
  const timestamp = form.timestamp ?? '';
  const email = form.email ?? '';
  const userId = form.user_id ?? '';
  const scoped = form.user_scoped_resource_token ?? '';
  const plain = form.resource_token ?? '';
  const malformed = formProblem(uuid, timestamp, email, scoped || plain);
  if (malformed) return { ok: false, reason: malformed };
  const base = `${form.resource_id}:${policy.salt}:${timestamp}`;
  const plainValid = Boolean(plain) && safeEqual(hex('sha1', base), plain.toLowerCase());
  const scopedValid =
    Boolean(scoped) && safeEqual(hex('sha256', `${base}:${userId}:${email}`), scoped.toLowerCase());
  // The user-scoped token decides when present; a resource token sent beside it is spent too.
  if (scoped ? !scopedValid : !plainValid)
    return { ok: false, reason: scoped ? 'bad_user_scoped_token' : 'bad_resource_token' };
  const ts = Number(timestamp);
  const now = nowMs / 1000;
  if (ts < now - policy.windowS) return { ok: false, reason: 'timestamp_too_old' };
  if (ts > now + policy.maxSkewS) return { ok: false, reason: 'timestamp_in_future' };
  const plainKey = hex('sha256', `resource_token:${uuid}:${timestamp}`);
  const keys = scopedValid
    ? {
        replayKey: hex(
          'sha256',
          `user_scoped_resource_token:${uuid}:${timestamp}:${userId}:${email}`,
        ),
        ...(plainValid ? { alsoSpends: plainKey } : {}),
      }
    : { replayKey: plainKey };
  return {
    ok: true,
    login: { uuid, email, userId, ...keys, expiresAt: new Date((ts + policy.windowS) * 1000) },
  };
}
