import { createHash } from 'node:crypto';
import { verifySsoForm } from './tokens.js';

const policy = { salt: 'salt', windowS: 300, maxSkewS: 60 };
const uuid = '01234567-89ab-cdef-0123-456789abcdef';
const hex = (a: string, s: string): string => createHash(a).update(s).digest('hex');
const NOW = 1_700_000_000_000;

function form(ts = NOW / 1000, over: Record<string, string> = {}): Record<string, string> {
  return {
    resource_id: uuid,
    timestamp: String(ts),
    user_id: 'u1',
    email: 'a@example.com',
    resource_token: hex('sha1', `${uuid}:salt:${ts}`),
    user_scoped_resource_token: hex('sha256', `${uuid}:salt:${ts}:u1:a@example.com`),
    ...over,
  };
}

describe('verifySsoForm', () => {
  it('accepts the user-scoped token and reports who logged in', () => {
    const r = verifySsoForm(form(), policy, NOW);
    expect(r).toEqual({
      ok: true,
      login: expect.objectContaining({
        uuid,
        email: 'a@example.com',
        userId: 'u1',
        expiresAt: new Date(NOW + 300_000),
      }),
    });
  });

  it('prefers the user-scoped token: a good resource token does not rescue a bad user-scoped one', () => {
    expect(
      verifySsoForm(form(undefined, { user_scoped_resource_token: '0'.repeat(64) }), policy, NOW),
    ).toEqual({ ok: false, reason: 'bad_user_scoped_token' });
    expect(verifySsoForm(form(undefined, { email: 'b@example.com' }), policy, NOW)).toEqual({
      ok: false,
      reason: 'bad_user_scoped_token',
    });
  });

  it('falls back to the resource token, and takes upper-case hex', () => {
    const f = form();
    const { user_scoped_resource_token: _u, ...plain } = f;
    expect(
      verifySsoForm({ ...plain, resource_token: f.resource_token!.toUpperCase() }, policy, NOW).ok,
    ).toBe(true);
    expect(verifySsoForm({ ...plain, resource_token: 'x' }, policy, NOW)).toEqual({
      ok: false,
      reason: 'bad_resource_token',
    });
  });

  it('checks the window at its edges', () => {
    const s = NOW / 1000;
    expect(verifySsoForm(form(s - 300), policy, NOW).ok).toBe(true);
    expect(verifySsoForm(form(s - 301), policy, NOW)).toEqual({
      ok: false,
      reason: 'timestamp_too_old',
    });
    expect(verifySsoForm(form(s + 60), policy, NOW).ok).toBe(true);
    expect(verifySsoForm(form(s + 61), policy, NOW)).toEqual({
      ok: false,
      reason: 'timestamp_in_future',
    });
  });

  it('refuses malformed fields before hashing', () => {
    expect(verifySsoForm(form(undefined, { resource_id: 'nope' }), policy, NOW).ok).toBe(false);
    expect(verifySsoForm(form(undefined, { timestamp: '1e9' }), policy, NOW).ok).toBe(false);
    expect(verifySsoForm({ resource_id: uuid, timestamp: '1', email: 'a@b' }, policy, NOW)).toEqual(
      { ok: false, reason: 'missing_token' },
    );
  });

  it('keys replays on exactly what each token proves', () => {
    const f = form();
    const { user_scoped_resource_token: _u, ...plain } = f;
    const both = verifySsoForm(f, policy, NOW);
    const plainOnly = verifySsoForm(plain, policy, NOW);
    const otherEmail = verifySsoForm(
      { ...plain, email: 'evil@example.com', user_id: 'u2' },
      policy,
      NOW,
    );
    if (!both.ok || !plainOnly.ok || !otherEmail.ok)
      throw new Error('expected all three to verify');
    // The resource token binds neither email nor user id: the same key whatever they say.
    expect(plainOnly.login.replayKey).toBe(otherEmail.login.replayKey);
    // A form with both tokens is decided by the user-scoped one and spends the resource token.
    expect(both.login.replayKey).not.toBe(plainOnly.login.replayKey);
    expect(both.login.alsoSpends).toBe(plainOnly.login.replayKey);
    // Another user in the same second has a proof of their own.
    const other = verifySsoForm(
      form(undefined, {
        user_id: 'u2',
        user_scoped_resource_token: hex('sha256', `${uuid}:salt:${NOW / 1000}:u2:a@example.com`),
      }),
      policy,
      NOW,
    );
    expect(other.ok && other.login.replayKey).not.toBe(both.login.replayKey);
  });
});
