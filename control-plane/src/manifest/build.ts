/**
 * The production manifest for `heroku addons:admin:manifest:push`: regions from the
 * catalog, config var names from the engines, secrets from env. Refuses the dev secrets.
 */
import { ConfigError } from '../../../shared/src/config.js';
import type { Catalog } from '../catalog/schema.js';
import type { DevManifest } from '../config.js';

/** Config vars each engine returns, by suffix after the prefix. */
const ENGINE_CONFIG_VARS: Record<string, string[]> = { redis: ['URL', 'TLS_CA'] };

export interface ManifestInput {
  baseUrl: string;
  env: Record<string, string | undefined>;
  dev: DevManifest;
  catalog: Catalog;
}

export function buildManifest({
  baseUrl,
  env,
  dev,
  catalog,
}: ManifestInput): Record<string, unknown> {
  const problems: string[] = [];
  let url: URL | undefined;
  try {
    url = new URL(baseUrl);
  } catch {
    problems.push(`--base-url ${JSON.stringify(baseUrl)} is not a URL`);
  }
  if (url && url.protocol !== 'https:')
    problems.push('--base-url must be https (Heroku requires it)');
  if (url && ['localhost', '127.0.0.1'].includes(url.hostname))
    problems.push('--base-url must not be localhost');
  const password = env.ADDON_PASSWORD;
  const salt = env.SSO_SALT;
  if (!password) problems.push('ADDON_PASSWORD is not set');
  if (!salt) problems.push('SSO_SALT is not set');
  if (password && password === dev.api.password)
    problems.push('ADDON_PASSWORD is the dev value from addon-manifest.json');
  if (salt && salt === dev.api.sso_salt)
    problems.push('SSO_SALT is the dev value from addon-manifest.json');
  if (password && password.length < 32)
    problems.push('ADDON_PASSWORD must be at least 32 characters');
  if (salt && salt.length < 32) problems.push('SSO_SALT must be at least 32 characters');
  if (problems.length)
    throw new ConfigError(
      `cannot build the production manifest:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  const prefix = env.CONFIG_VARS_PREFIX ?? dev.api.config_vars_prefix;
  const engines = [...new Set(catalog.plans.map((p) => p.engine))];
  const configVars = [
    ...new Set(engines.flatMap((e) => (ENGINE_CONFIG_VARS[e] ?? []).map((s) => `${prefix}_${s}`))),
  ];
  const base = url!.origin + url!.pathname.replace(/\/$/, '');
  return {
    id: env.ADDON_ID ?? dev.id,
    name: env.ADDON_NAME ?? dev.name,
    api: {
      config_vars_prefix: prefix,
      config_vars: configVars,
      password,
      sso_salt: salt,
      regions: [...new Set(catalog.regions.map((r) => r.name))],
      requires: dev.api.requires,
      production: { base_url: `${base}/heroku/resources`, sso_url: `${base}/sso/login` },
      test: dev.api.test,
      version: '3',
    },
  };
}
