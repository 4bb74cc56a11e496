import { loadCatalog } from '../catalog/load.js';
import { readDevManifest } from '../config.js';
import { buildManifest } from './build.js';

const dev = readDevManifest();
const catalog = loadCatalog();
const secrets = { ADDON_PASSWORD: 'p'.repeat(40), SSO_SALT: 's'.repeat(40) };

describe('production manifest', () => {
  it('takes regions from the catalog and config vars from the engines', () => {
    const m = buildManifest({
      baseUrl: 'https://addons.example.com/',
      env: secrets,
      dev,
      catalog,
    }) as { api: Record<string, unknown> };
    expect(m.api.regions).toEqual([
      'us',
      'eu',
      'virginia',
      'dublin',
      'frankfurt',
      'london',
      'montreal',
      'mumbai',
      'oregon',
      'singapore',
      'sydney',
      'tokyo',
    ]);
    expect(m.api.config_vars).toEqual(['TLSREDIS_URL', 'TLSREDIS_TLS_CA']);
    expect(m.api.production).toEqual({
      base_url: 'https://addons.example.com/heroku/resources',
      sso_url: 'https://addons.example.com/sso/login',
    });
    expect(m.api.password).toBe(secrets.ADDON_PASSWORD);
  });

  it('refuses the dev secrets, missing secrets and non-https URLs', () => {
    expect(() =>
      buildManifest({
        baseUrl: 'https://a.example.com',
        env: { ADDON_PASSWORD: dev.api.password, SSO_SALT: dev.api.sso_salt },
        dev,
        catalog,
      }),
    ).toThrow(/dev value/);
    expect(() =>
      buildManifest({ baseUrl: 'https://a.example.com', env: {}, dev, catalog }),
    ).toThrow(/ADDON_PASSWORD is not set/);
    expect(() =>
      buildManifest({ baseUrl: 'http://a.example.com', env: secrets, dev, catalog }),
    ).toThrow(/https/);
  });
});
