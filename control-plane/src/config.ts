/**
 * The control plane's one configuration entry point. Only this file and main.ts read the
 * environment. Dev defaults come from the committed addon-manifest.json; production mode
 * refuses them.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ConfigError, envFlag, envInt, parseEnv, type Env } from '../../shared/src/config.js';
import type { Keyring } from './crypto.js';
import { devSecrets } from './dev-secrets.js';
import {
  CONTROL_PLANE_INBOX_PREFIX,
  natsAuthProblems,
  InboxPrefixSchema,
  NatsUrlSchema,
  type NatsSettings,
} from '../../shared/src/nats.js';

export const MANIFEST_PATH = fileURLToPath(new URL('../../addon-manifest.json', import.meta.url));

const ManifestSchema = z.object({
  id: z.string().min(1),
  name: z.string().optional(),
  api: z.object({
    config_vars_prefix: z.string().regex(/^[A-Z][A-Z0-9_]*$/),
    config_vars: z.array(z.string()),
    password: z.string().min(1),
    sso_salt: z.string().min(1),
    regions: z.array(z.string()),
    requires: z.array(z.string()).default([]),
    production: z.object({ base_url: z.string(), sso_url: z.string() }),
    test: z.object({ base_url: z.string(), sso_url: z.string() }),
    version: z.string(),
  }),
});
export type DevManifest = z.infer<typeof ManifestSchema>;

export function readDevManifest(path = MANIFEST_PATH): DevManifest {
  return ManifestSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
}

const KEY = /^[A-Za-z0-9+/_-]{43}=?$/;

const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  PORT: envInt(5000, 0, 65535),
  HOST: z.string().default('0.0.0.0'),
  DATABASE_URL: z.string().min(1),
  DATABASE_POOL_MAX: envInt(10, 1, 500),
  NATS_URL: NatsUrlSchema,
  NATS_CREDS_FILE: z.string().optional(),
  NATS_USER: z.string().optional(),
  NATS_PASSWORD: z.string().optional(),
  /** PEM CA bundle the NATS server's certificate must chain to (turns TLS on). */
  NATS_TLS_CA_FILE: z.string().optional(),
  /** The control plane's inbox prefix (default `_INBOX_control-plane`, what agents may reply to). */
  NATS_INBOX_PREFIX: InboxPrefixSchema.optional(),
  /** Replicas of the JetStream streams (1 on one server, 3 on a production cluster). */
  NATS_STREAM_REPLICAS: envInt(1, 1, 5),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  ADDON_ID: z.string().optional(),
  ADDON_PASSWORD: z.string().optional(),
  SSO_SALT: z.string().optional(),
  CONFIG_VARS_PREFIX: z
    .string()
    .regex(/^[A-Z][A-Z0-9_]*$/)
    .optional(),
  CATALOG_PATH: z.string().optional(),
  /** Overrides every plan's sync budget (ms, ≤ 2000). */
  SYNC_BUDGET_MS: z.coerce.number().int().min(0).max(2000).optional(),
  /** How long a provision without an oauth_grant may wait before 503 (ms). */
  HARD_BUDGET_MS: envInt(20000, 0, 25000),
  /** Time an operation may stay dispatched before it is re-dispatched. */
  OPERATION_TIMEOUT_MS: envInt(10 * 60_000, 1000),
  OPERATION_MAX_ATTEMPTS: envInt(5, 1, 100),
  /** First retry delay of a deprovision the agent reported failed; doubles per attempt. */
  DEPROVISION_RETRY_BASE_MS: envInt(30_000, 10, 3_600_000),
  OUTBOX_SWEEP_MS: envInt(1000, 50),
  /** What a plan change does while another operation on the resource is in flight. */
  CONFLICT_POLICY: z.enum(['queue', 'reject']).default('queue'),
  /** How to tell a Private Space from the Common Runtime for us-east-1 / eu-west-1. */
  PRIVATE_SPACE_LOOKUP: z
    .enum(['platform-api', 'assume-common-runtime', 'assume-private-space'])
    .default('platform-api'),
  PRIVATE_SPACE_LOOKUP_TIMEOUT_MS: envInt(1500, 100, 10000),
  OAUTH_CLIENT_SECRET: z.string().optional(),
  ENCRYPTION_KEY: z.string().optional(),
  /** Older keys still accepted for decryption: "kid:base64key,kid2:base64key". */
  ENCRYPTION_KEYS_OLD: z.string().optional(),
  HEROKU_API_URL: z.url().default('https://api.heroku.com'),
  HEROKU_ID_URL: z.url().default('https://id.heroku.com'),
  /** What to tell Heroku when an async provision fails for good (README: Finishing with Heroku). */
  ASYNC_FAILURE_ACTION: z.enum(['deprovision', 'none']).default('deprovision'),
  /**
   * Heroku calls in flight at once per replica (call-worker.ts), each on its own socket. One
   * add-on's calls go one at a time whatever this is; it bounds how many add-ons are served at
   * once: at Heroku's ~100-300 ms per call, 128 is 400-1,300 calls/s.
   */
  HEROKU_CALL_CONCURRENCY: envInt(128, 1, 256),
  /** Seconds old credentials stay valid after a rotation before they are revoked. */
  ROTATION_GRACE_S: envInt(7200, 0, 7 * 24 * 3600),
  /** A region whose agents have all been silent this long is down (fleet/heartbeats.ts). */
  AGENT_DEAD_AFTER_S: envInt(60, 2, 86_400),
  /** Reconciliation (fleet/reconcile.ts): pass interval, orphan grace, repairs per finding. */
  RECONCILE_INTERVAL_S: envInt(300, 1, 86_400),
  ORPHAN_GRACE_S: envInt(3600, 0, 30 * 86_400),
  RECONCILE_MAX_REPAIRS: envInt(3, 0, 100),
  RECONCILE_INVENTORY_TIMEOUT_MS: envInt(30_000, 100, 120_000),
  MAX_BODY_BYTES: envInt(64 * 1024, 1024, 10 * 1024 * 1024),
  TRUST_PROXY: envFlag(false),
  /** Links on the customer dashboard: the add-on's documentation and where to get support. */
  DOCS_URL: z.url().optional(),
  SUPPORT_URL: z.url().optional(),
  AGENT_REGIONS_ENABLED: z.string().optional(),
  /** How old an SSO timestamp may be (s). */
  SSO_WINDOW_S: envInt(300, 1, 3600),
  /** How far in the future an SSO timestamp may be (s): clock skew. */
  SSO_MAX_SKEW_S: envInt(60, 0, 3600),
  /** HMAC key of dashboard session cookies. */
  SESSION_SECRET: z.string().min(32).optional(),
  /** When set, GET /metrics wants `Authorization: Bearer <token>`. */
  METRICS_TOKEN: z.string().min(16).optional(),
});

function parseKey(spec: string): { keyId: string; key: Buffer } {
  const [keyId, b64] = spec.includes(':') ? spec.split(':', 2) : ['k1', spec];
  const key = Buffer.from(b64 ?? '', 'base64');
  if (!keyId || key.length !== 32 || !KEY.test(b64 ?? '')) {
    throw new ConfigError(
      'ENCRYPTION_KEY must be "<key-id>:<base64 of 32 bytes>" (openssl rand -base64 32)',
    );
  }
  return { keyId, key };
}

type ParsedEnv = z.infer<typeof EnvSchema>;

/** Production refuses missing secrets and the dev values committed in the manifest. */
function secretProblems(
  e: ParsedEnv,
  manifest: DevManifest,
  password?: string,
  ssoSalt?: string,
): string[] {
  const prod = e.NODE_ENV === 'production';
  const problems: string[] = [];
  if (!password) problems.push('ADDON_PASSWORD is required in production');
  if (!ssoSalt) problems.push('SSO_SALT is required in production');
  if (!prod) return problems;
  if (password === manifest.api.password)
    problems.push('ADDON_PASSWORD is the dev value from addon-manifest.json');
  if (ssoSalt === manifest.api.sso_salt)
    problems.push('SSO_SALT is the dev value from addon-manifest.json');
  for (const name of ['OAUTH_CLIENT_SECRET', 'ENCRYPTION_KEY', 'SESSION_SECRET'] as const) {
    if (!e[name]) problems.push(`${name} is required in production`);
  }
  return problems;
}

function natsSettings(e: ParsedEnv): NatsSettings {
  const optional = {
    credsFile: e.NATS_CREDS_FILE,
    user: e.NATS_USER,
    password: e.NATS_PASSWORD,
    tlsCaFile: e.NATS_TLS_CA_FILE,
    inboxPrefix: e.NATS_INBOX_PREFIX,
  };
  const set = Object.fromEntries(
    Object.entries(optional).filter(([, v]) => v !== undefined && v !== ''),
  );
  return {
    url: e.NATS_URL,
    name: 'control-plane',
    inboxPrefix: CONTROL_PLANE_INBOX_PREFIX,
    ...set,
  };
}

function encryptionConfig(
  e: ParsedEnv,
  devKey: string | undefined,
  problems: string[],
): Keyring | undefined {
  try {
    return {
      ...parseKey(e.ENCRYPTION_KEY ?? devKey ?? ''),
      old: (e.ENCRYPTION_KEYS_OLD ?? '').split(',').filter(Boolean).map(parseKey),
    };
  } catch (err) {
    problems.push((err as Error).message);
    return undefined;
  }
}

/** The one mapping from the parsed environment to the settings the code reads. */
function toConfig(
  e: ParsedEnv,
  manifest: DevManifest,
  s: { id: string; password: string; ssoSalt: string; encryption: Keyring },
  devSessionSecret: string | undefined,
) {
  const prod = e.NODE_ENV === 'production';
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    databasePoolMax: e.DATABASE_POOL_MAX,
    nats: natsSettings(e),
    natsStreamReplicas: e.NATS_STREAM_REPLICAS,
    logLevel: e.LOG_LEVEL,
    addon: {
      id: s.id,
      password: s.password,
      ssoSalt: s.ssoSalt,
      configVarsPrefix: e.CONFIG_VARS_PREFIX ?? manifest.api.config_vars_prefix,
      requires: manifest.api.requires,
    },
    catalogPath: e.CATALOG_PATH,
    syncBudgetOverrideMs: e.SYNC_BUDGET_MS,
    hardBudgetMs: e.HARD_BUDGET_MS,
    operationTimeoutMs: e.OPERATION_TIMEOUT_MS,
    operationMaxAttempts: e.OPERATION_MAX_ATTEMPTS,
    deprovisionRetryBaseMs: e.DEPROVISION_RETRY_BASE_MS,
    outboxSweepMs: e.OUTBOX_SWEEP_MS,
    conflictPolicy: e.CONFLICT_POLICY,
    privateSpaceLookup: e.PRIVATE_SPACE_LOOKUP,
    privateSpaceLookupTimeoutMs: e.PRIVATE_SPACE_LOOKUP_TIMEOUT_MS,
    oauthClientSecret: e.OAUTH_CLIENT_SECRET ?? (prod ? '' : 'dev-oauth-client-secret'),
    encryption: s.encryption,
    herokuApiUrl: e.HEROKU_API_URL.replace(/\/$/, ''),
    herokuIdUrl: e.HEROKU_ID_URL.replace(/\/$/, ''),
    maxBodyBytes: e.MAX_BODY_BYTES,
    asyncFailureAction: e.ASYNC_FAILURE_ACTION,
    herokuCallConcurrency: e.HEROKU_CALL_CONCURRENCY,
    rotationGraceS: e.ROTATION_GRACE_S,
    agentDeadAfterS: e.AGENT_DEAD_AFTER_S,
    reconcile: {
      intervalS: e.RECONCILE_INTERVAL_S,
      orphanGraceS: e.ORPHAN_GRACE_S,
      maxRepairs: e.RECONCILE_MAX_REPAIRS,
      inventoryTimeoutMs: e.RECONCILE_INVENTORY_TIMEOUT_MS,
    },
    trustProxy: e.TRUST_PROXY,
    metricsToken: e.METRICS_TOKEN,
    enabledAgentRegions: e.AGENT_REGIONS_ENABLED
      ? new Set(
          e.AGENT_REGIONS_ENABLED.split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        )
      : null,
    dashboardLinks: { docs: e.DOCS_URL, support: e.SUPPORT_URL },
    sso: {
      windowS: e.SSO_WINDOW_S,
      maxSkewS: e.SSO_MAX_SKEW_S,
      sessionSecret: e.SESSION_SECRET ?? devSessionSecret ?? '',
    },
  };
}

/** What the control plane runs with: derived from the mapping, never written out twice. */
export type ControlPlaneConfig = ReturnType<typeof toConfig>;

/** The add-on's id and Heroku-facing secrets; outside production the manifest's dev values. */
function addonCredentials(
  e: ParsedEnv,
  manifest: DevManifest,
): { id: string; password?: string; ssoSalt?: string } {
  const prod = e.NODE_ENV === 'production';
  return {
    id: e.ADDON_ID ?? manifest.id,
    password: e.ADDON_PASSWORD ?? (prod ? undefined : manifest.api.password),
    ssoSalt: e.SSO_SALT ?? (prod ? undefined : manifest.api.sso_salt),
  };
}

export function loadConfig(
  env: Env,
  manifest: DevManifest = readDevManifest(),
): ControlPlaneConfig {
  const e = parseEnv(EnvSchema, env, 'control-plane');
  const prod = e.NODE_ENV === 'production';
  const { id, password, ssoSalt } = addonCredentials(e, manifest);
  const problems = [...secretProblems(e, manifest, password, ssoSalt), ...natsAuthProblems(e)];
  // Outside production, unset secrets are generated once per checkout (never committed).
  const dev = prod || (e.ENCRYPTION_KEY && e.SESSION_SECRET) ? undefined : devSecrets();
  const encryption = encryptionConfig(e, dev?.encryptionKey, problems);
  if (problems.length > 0 || !encryption) {
    throw new ConfigError(
      `invalid control-plane configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  const secrets = { id, password: password!, ssoSalt: ssoSalt!, encryption };
  return toConfig(e, manifest, secrets, dev?.sessionSecret);
}

/** Env var names the control plane reads: charts are checked against this list. */
export const CONTROL_PLANE_ENV_VARS = Object.keys(EnvSchema.shape);
