import { createSessionCodec } from './session.js';

const codec = createSessionCodec('s'.repeat(32), 1000);
const uuid = '01234567-89ab-cdef-0123-456789abcdef';

describe('session cookie', () => {
  it('round-trips and expires', () => {
    const { value, session } = codec.issue(uuid, 'a@example.com', 0);
    expect(codec.read(value, 999)).toEqual({ ok: true, session });
    expect(codec.read(value, 1000)).toEqual({ ok: false, reason: 'expired' });
    expect(codec.read(undefined, 0)).toEqual({ ok: false, reason: 'missing' });
  });

  it('refuses tampering and another secret', () => {
    const { value } = codec.issue(uuid, 'a@example.com', 0);
    const [payload, mac] = value.split('.') as [string, string];
    const other = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), uuid: 'x' }),
    ).toString('base64url');
    expect(codec.read(`${other}.${mac}`, 0)).toEqual({ ok: false, reason: 'invalid' });
    expect(codec.read(`${value}.x`, 0)).toEqual({ ok: false, reason: 'invalid' });
    expect(createSessionCodec('t'.repeat(32), 1000).read(value, 0)).toEqual({
      ok: false,
      reason: 'invalid',
    });
  });

  it('binds the CSRF token to the session', () => {
    const a = codec.issue(uuid, 'a@example.com', 0).session;
    const b = codec.issue(uuid, 'a@example.com', 0).session;
    expect(codec.checkCsrf(a, codec.csrfToken(a))).toBe(true);
    expect(codec.checkCsrf(b, codec.csrfToken(a))).toBe(false);
    expect(codec.checkCsrf(a, '')).toBe(false);
  });
});
