import { ConfigError } from '../../../shared/src/config.js';
import { loadConfig } from '../config.js';

const base = { DATABASE_URL: 'postgres://x/y', NATS_URL: 'nats://127.0.0.1:4222' };
const prod = {
  ...base,
  NODE_ENV: 'production',
  ADDON_PASSWORD: 'p'.repeat(32),
  SSO_SALT: 's'.repeat(32),
  OAUTH_CLIENT_SECRET: 'o'.repeat(32),
  ENCRYPTION_KEY: 'k1:' + Buffer.alloc(32, 7).toString('base64'),
};

describe('SSO configuration', () => {
  it('defaults to a 5 minute window, 60 s skew and a dev session secret outside production', () => {
    const c = loadConfig(base);
    expect(c.sso.windowS).toBe(300);
    expect(c.sso.maxSkewS).toBe(60);
    expect(c.sso.sessionSecret.length).toBeGreaterThanOrEqual(32);
  });

  it('reads SSO_WINDOW_S, SSO_MAX_SKEW_S and SESSION_SECRET', () => {
    const c = loadConfig({
      ...base,
      SSO_WINDOW_S: '120',
      SSO_MAX_SKEW_S: '5',
      SESSION_SECRET: 'x'.repeat(40),
    });
    expect(c.sso).toEqual({ windowS: 120, maxSkewS: 5, sessionSecret: 'x'.repeat(40) });
  });

  it('refuses a short SESSION_SECRET, and production without one', () => {
    expect(() => loadConfig({ ...base, SESSION_SECRET: 'short' })).toThrow(ConfigError);
    expect(() => loadConfig(prod)).toThrow(/SESSION_SECRET is required in production/);
    expect(loadConfig({ ...prod, SESSION_SECRET: 'z'.repeat(48) }).sso.sessionSecret).toBe(
      'z'.repeat(48),
    );
  });
});
