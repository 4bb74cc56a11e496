/**
 * The dashboard session: a stateless cookie `<payload>.<mac>` (base64url JSON, HMAC-SHA256
 * with SESSION_SECRET) bound to one resource uuid and one email, with an expiry. The CSRF
 * token is derived from the session's random id, so it is bound to that session.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { safeEqual } from '../http/auth.js';

export const SESSION_COOKIE = 'tlsredis_session';

export interface Session {
  /** Random session id. */
  sid: string;
  uuid: string;
  email: string;
  /** Expiry, Unix ms. */
  exp: number;
}

export type SessionCheck =
  { ok: true; session: Session } | { ok: false; reason: 'missing' | 'invalid' | 'expired' };

export interface SessionCodec {
  issue(uuid: string, email: string, nowMs: number): { value: string; session: Session };
  read(value: string | undefined, nowMs: number): SessionCheck;
  csrfToken(session: Session): string;
  checkCsrf(session: Session, token: string): boolean;
}

export function createSessionCodec(secret: string, ttlMs: number): SessionCodec {
  const mac = (purpose: string, data: string): string =>
    createHmac('sha256', secret).update(`${purpose}:${data}`).digest('base64url');
  const csrfToken = (s: Session): string => mac('csrf', `${s.sid}:${s.uuid}`);
  return {
    issue(uuid, email, nowMs) {
      const session: Session = {
        sid: randomBytes(16).toString('base64url'),
        uuid,
        email,
        exp: nowMs + ttlMs,
      };
      const payload = Buffer.from(JSON.stringify(session)).toString('base64url');
      return { value: `${payload}.${mac('session', payload)}`, session };
    },
    read(value, nowMs) {
      if (!value) return { ok: false, reason: 'missing' };
      const [payload, sig, extra] = value.split('.');
      if (!payload || !sig || extra !== undefined || !safeEqual(mac('session', payload), sig))
        return { ok: false, reason: 'invalid' };
      let s: Partial<Session>;
      try {
        s = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Partial<Session>;
      } catch {
        return { ok: false, reason: 'invalid' };
      }
      if (
        typeof s.sid !== 'string' ||
        typeof s.uuid !== 'string' ||
        typeof s.email !== 'string' ||
        typeof s.exp !== 'number'
      ) {
        return { ok: false, reason: 'invalid' };
      }
      if (s.exp <= nowMs) return { ok: false, reason: 'expired' };
      return { ok: true, session: s as Session };
    },
    csrfToken,
    checkCsrf: (s, token) => safeEqual(csrfToken(s), token),
  };
}
