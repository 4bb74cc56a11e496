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

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

function baseUrlProblems(baseUrl: string, url: URL | undefined): string[] {
  if (!url) return [`--base-url ${JSON.stringify(baseUrl)} is not a URL`];
  const problems: string[] = [];
  if (url.protocol !== 'https:') problems.push('--base-url must be https (Heroku requires it)');
  if (['localhost', '127.0.0.1'].includes(url.hostname))
    problems.push('--base-url must not be localhost');
  return problems;
}

/** Every missing secret first, then every dev value, then every short one. */
function secretProblems(secrets: { name: string; value?: string; devValue: string }[]): string[] {
  const set = secrets.filter((s): s is typeof s & { value: string } => Boolean(s.value));
  return [
    ...secrets.filter((s) => !s.value).map((s) => `${s.name} is not set`),
    ...set
      .filter((s) => s.value === s.devValue)
      .map((s) => `${s.name} is the dev value from addon-manifest.json`),
    ...set
      .filter((s) => s.value.length < 32)
      .map((s) => `${s.name} must be at least 32 characters`),
  ];
}

function configVarNames(prefix: string, catalog: Catalog): string[] {
  const engines = [...new Set(catalog.plans.map((p) => p.engine))];
  return [
    ...new Set(engines.flatMap((e) => (ENGINE_CONFIG_VARS[e] ?? []).map((s) => `${prefix}_${s}`))),
  ];
}

export function buildManifest({
  baseUrl,
  env,
  dev,
  catalog,
}: ManifestInput): Record<string, unknown> {
  const url = parseUrl(baseUrl);
  const password = env.ADDON_PASSWORD;
  const salt = env.SSO_SALT;
  const problems = [
    ...baseUrlProblems(baseUrl, url),
    ...secretProblems([
      { name: 'ADDON_PASSWORD', value: password, devValue: dev.api.password },
      { name: 'SSO_SALT', value: salt, devValue: dev.api.sso_salt },
    ]),
  ];
  if (problems.length)
    throw new ConfigError(
      `cannot build the production manifest:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  const prefix = env.CONFIG_VARS_PREFIX ?? dev.api.config_vars_prefix;
  const base = url!.origin + url!.pathname.replace(/\/$/, '');
  return {
    id: env.ADDON_ID ?? dev.id,
    name: env.ADDON_NAME ?? dev.name,
    api: {
      config_vars_prefix: prefix,
      config_vars: configVarNames(prefix, catalog),
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
