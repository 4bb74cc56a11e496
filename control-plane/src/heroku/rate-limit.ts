/**
 * Heroku's rate-limit signals (https://devcenter.heroku.com/articles/platform-api-reference#rate-limits): a token bucket whose balance is in
 * `RateLimit-Remaining`, and a 429 `rate_limit` once it is spent. Heroku documents no
 * `Retry-After`; when one is sent it wins over our defaults.
 */

export interface RateLimitPauses {
  /** After a 429 without Retry-After. */
  limitedMs: number;
  /** After an answer with RateLimit-Remaining: 0 and no Retry-After (the bucket refills ~75/min). */
  exhaustedMs: number;
}

export const DEFAULT_PAUSES: RateLimitPauses = { limitedMs: 5_000, exhaustedMs: 60_000 };

/** `Retry-After` as delay-seconds or an HTTP date, in ms from `now`; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** How long to leave alone whatever this answer limits; undefined when it signals no limit. */
export function rateLimitPauseMs(
  status: number,
  headers: { get(name: string): string | null },
  pauses: RateLimitPauses = DEFAULT_PAUSES,
): number | undefined {
  const retryAfter = retryAfterMs(headers.get('retry-after'));
  if (status === 429) return retryAfter ?? pauses.limitedMs;
  const remaining = headers.get('ratelimit-remaining')?.trim();
  if (remaining !== undefined && /^-?\d+$/.test(remaining) && Number(remaining) <= 0) {
    return retryAfter ?? pauses.exhaustedMs;
  }
  return undefined;
}
