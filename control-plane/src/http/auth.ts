/** Heroku's Basic auth, compared in constant time on both parts. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { AuthenticationError } from '../../../shared/src/errors.js';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Constant-time string equality (hashing first makes lengths equal). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export function basicAuth(user: string, password: string) {
  return async function requireBasicAuth(ctx: Context, next: Next): Promise<void> {
    const header = ctx.get('authorization');
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
    const sep = decoded.indexOf(':');
    const u = sep >= 0 ? decoded.slice(0, sep) : '';
    const p = sep >= 0 ? decoded.slice(sep + 1) : '';
    // Evaluate both comparisons always: no early exit on the user part.
    const ok = [safeEqual(u, user), safeEqual(p, password)].every(Boolean);
    if (!match || sep < 0 || !ok)
      throw new AuthenticationError('unauthorized', 'Authentication failed');
    await next();
  };
}
