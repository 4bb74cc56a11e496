import { DEFAULT_PAUSES, rateLimitPauseMs, retryAfterMs } from './rate-limit.js';

const pauses = { limitedMs: 5_000, exhaustedMs: 60_000 };
const headers = (h: Record<string, string>): Headers => new Headers(h);

describe('retryAfterMs', () => {
  it('reads delay-seconds and HTTP dates, and nothing else', () => {
    const now = Date.parse('2026-12-01T10:00:00Z');
    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Tue, 01 Dec 2026 10:00:07 GMT', now)).toBe(7000);
    expect(retryAfterMs('Tue, 01 Dec 2026 09:59:00 GMT', now)).toBe(0);
    expect(retryAfterMs(null, now)).toBeUndefined();
    expect(retryAfterMs('', now)).toBeUndefined();
    expect(retryAfterMs('soon', now)).toBeUndefined();
  });
});

describe('rateLimitPauseMs', () => {
  it('pauses after a 429: for its Retry-After, else the default', () => {
    expect(rateLimitPauseMs(429, headers({ 'Retry-After': '2' }), pauses)).toBe(2000);
    expect(rateLimitPauseMs(429, headers({ 'RateLimit-Remaining': '0' }), pauses)).toBe(5000);
  });

  it('pauses after an answer that spent the budget, however it went', () => {
    expect(rateLimitPauseMs(200, headers({ 'RateLimit-Remaining': '0' }), pauses)).toBe(60_000);
    expect(
      rateLimitPauseMs(503, headers({ 'RateLimit-Remaining': '0', 'Retry-After': '1' }), pauses),
    ).toBe(1000);
  });

  it('does not pause while budget remains or when the header is missing or unreadable', () => {
    expect(rateLimitPauseMs(200, headers({ 'RateLimit-Remaining': '1' }), pauses)).toBeUndefined();
    expect(rateLimitPauseMs(200, headers({}), pauses)).toBeUndefined();
    expect(rateLimitPauseMs(200, headers({ 'RateLimit-Remaining': '' }), pauses)).toBeUndefined();
    expect(rateLimitPauseMs(503, headers({ 'Retry-After': '1' }), pauses)).toBeUndefined();
  });

  it('uses Heroku-sized defaults', () => {
    expect(rateLimitPauseMs(429, headers({}))).toBe(DEFAULT_PAUSES.limitedMs);
  });
});
