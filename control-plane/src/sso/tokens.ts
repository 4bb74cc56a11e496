/**
 * Verifying Heroku's SSO form (`POST /sso/login`, README.md "Heroku-facing API"): the
 * user-scoped token when present (it binds user id and email), else the resource token;
 * constant-time compares; a timestamp inside the window. Pure: no I/O, the clock is passed in.
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

/** The form's fields, absent ones as ''. */
interface SsoFields {
  /** `resource_id` as sent: Heroku's tokens are computed over it. */
  resourceId: string;
  uuid: string;
  timestamp: string;
  email: string;
  userId: string;
  scoped: string;
  plain: string;
}

function readFields(form: Record<string, string>): SsoFields {
  const resourceId = form.resource_id ?? '';
  return {
    resourceId,
    uuid: resourceId.toLowerCase(),
    timestamp: form.timestamp ?? '',
    email: form.email ?? '',
    userId: form.user_id ?? '',
    scoped: form.user_scoped_resource_token ?? '',
    plain: form.resource_token ?? '',
  };
}

/** Checks on the fields' shape, before any hashing. */
function formProblem({ uuid, timestamp, email, scoped, plain }: SsoFields): string | undefined {
  if (!UUID.test(uuid)) return 'bad_resource_id';
  if (!/^\d{1,12}$/.test(timestamp)) return 'bad_timestamp';
  if (!email) return 'missing_email';
  if (!scoped && !plain) return 'missing_token';
  return undefined;
}

/** Which of the two tokens are genuine (constant-time compares). */
function validTokens(f: SsoFields, salt: string): { plain: boolean; scoped: boolean } {
  const base = `${f.resourceId}:${salt}:${f.timestamp}`;
  const plain = Boolean(f.plain) && safeEqual(hex('sha1', base), f.plain.toLowerCase());
  const scoped =
    Boolean(f.scoped) &&
    safeEqual(hex('sha256', `${base}:${f.userId}:${f.email}`), f.scoped.toLowerCase());
  return { plain, scoped };
}

function timestampProblem(ts: number, policy: SsoPolicy, nowMs: number): string | undefined {
  const now = nowMs / 1000;
  if (ts < now - policy.windowS) return 'timestamp_too_old';
  if (ts > now + policy.maxSkewS) return 'timestamp_in_future';
  return undefined;
}

/** The replay keys of a login: see {@link SsoLogin.replayKey} and {@link SsoLogin.alsoSpends}. */
function replayKeys(
  { uuid, timestamp, userId, email }: SsoFields,
  valid: { plain: boolean; scoped: boolean },
): Pick<SsoLogin, 'replayKey' | 'alsoSpends'> {
  const plainKey = hex('sha256', `resource_token:${uuid}:${timestamp}`);
  if (!valid.scoped) return { replayKey: plainKey };
  return {
    replayKey: hex('sha256', `user_scoped_resource_token:${uuid}:${timestamp}:${userId}:${email}`),
    ...(valid.plain ? { alsoSpends: plainKey } : {}),
  };
}

export function verifySsoForm(
  form: Record<string, string>,
  policy: SsoPolicy,
  nowMs: number,
): SsoCheck {
  const f = readFields(form);
  const malformed = formProblem(f);
  if (malformed) return { ok: false, reason: malformed };
  const valid = validTokens(f, policy.salt);
  // The user-scoped token decides when present; a resource token sent beside it is spent too.
  if (f.scoped ? !valid.scoped : !valid.plain)
    return { ok: false, reason: f.scoped ? 'bad_user_scoped_token' : 'bad_resource_token' };
  const ts = Number(f.timestamp);
  const late = timestampProblem(ts, policy, nowMs);
  if (late) return { ok: false, reason: late };
  const { uuid, email, userId } = f;
  return {
    ok: true,
    login: {
      uuid,
      email,
      userId,
      ...replayKeys(f, valid),
      expiresAt: new Date((ts + policy.windowS) * 1000),
    },
  };
}
