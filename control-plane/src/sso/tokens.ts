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
  /** Identifies this login for replay detection. */
  replayKey: string;
  /** When the token stops being acceptable anyway. */
  expiresAt: Date;
}

export type SsoCheck = { ok: true; login: SsoLogin } | { ok: false; reason: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const hex = (algo: 'sha1' | 'sha256', s: string): string => createHash(algo).update(s).digest('hex');

export function verifySsoForm(form: Record<string, string>, policy: SsoPolicy, nowMs: number): SsoCheck {
  const uuid = (form.resource_id ?? '').toLowerCase();
  const timestamp = form.timestamp ?? '';
  const email = form.email ?? '';
  const userId = form.user_id ?? '';
  const scoped = form.user_scoped_resource_token ?? '';
  const plain = form.resource_token ?? '';
  if (!UUID.test(uuid)) return { ok: false, reason: 'bad_resource_id' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'bad_timestamp' };
  if (!email) return { ok: false, reason: 'missing_email' };
  if (!scoped && !plain) return { ok: false, reason: 'missing_token' };
  const base = `${form.resource_id}:${policy.salt}:${timestamp}`;
  const valid = scoped
    ? safeEqual(hex('sha256', `${base}:${userId}:${email}`), scoped.toLowerCase())
    : safeEqual(hex('sha1', base), plain.toLowerCase());
  if (!valid) return { ok: false, reason: scoped ? 'bad_user_scoped_token' : 'bad_resource_token' };
  const ts = Number(timestamp);
  const now = nowMs / 1000;
  if (ts < now - policy.windowS) return { ok: false, reason: 'timestamp_too_old' };
  if (ts > now + policy.maxSkewS) return { ok: false, reason: 'timestamp_in_future' };
  return {
    ok: true,
    login: {
      uuid,
      email,
      userId,
      // Independent of which token was sent, so switching tokens does not get around it.
      replayKey: hex('sha256', `${uuid}:${timestamp}:${userId}:${email}`),
      expiresAt: new Date((ts + policy.windowS) * 1000),
    },
  };
}
