/** The region agent's one `loadConfig(env)`: every setting it reads, validated at start. */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { z } from 'zod';
import { envInt, parseEnv, type Env } from '../../shared/src/config.js';
import { DEFAULT_ACK_WAIT_MS } from './agent/streams.js';
import {
  agentInboxPrefix,
  natsAuthProblems,
  NatsUrlSchema,
  type NatsSettings,
} from '../../shared/src/nats.js';

const REGION = /^[a-z0-9][a-z0-9-]*$/;

const regionList = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  )
  .pipe(
    z
      .array(z.string().regex(REGION, 'region must be lowercase letters, digits and dashes'))
      .min(1, 'at least one region is required'),
  );

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

const base = z.object({
  AGENT_REGION: regionList,
  AGENT_ID: optionalString,
  NATS_URL: NatsUrlSchema.default('nats://127.0.0.1:4222'),
  NATS_CREDS_FILE: optionalString,
  NATS_USER: optionalString,
  NATS_PASSWORD: optionalString,
  /** PEM CA bundle the NATS server's certificate must chain to (turns TLS on). */
  NATS_TLS_CA_FILE: optionalString,
  /** The agent's inbox prefix; default `_INBOX_<region>`. Its NATS user may read only this prefix. */
  NATS_INBOX_PREFIX: optionalString,
  /** Replicas of the JetStream streams (1 on one server, 3 on a production cluster). */
  NATS_STREAM_REPLICAS: envInt(1, 1, 5),
  AGENT_DRIVER: z.enum(['kubernetes', 'local']).default('local'),
  AGENT_DATA_DIR: optionalString,
  AGENT_CONCURRENCY: envInt(8, 1, 256),
  AGENT_MAX_DELIVER: envInt(5, 1, 100),
  /** Consumer ack_wait: how long a job taken by an agent that died stays invisible to the next. */
  AGENT_ACK_WAIT_MS: envInt(DEFAULT_ACK_WAIT_MS, 3_000, 3_600_000),
  AGENT_HOSTNAME: optionalString,
  TLS_ISSUER: z.enum(['private-ca', 'cert-manager']).default('private-ca'),
  /** kubernetes + private-ca: the Secret (in KUBE_NAMESPACE) holding the regional CA. */
  TLS_CA_SECRET: optionalString,
  /** TLS_ISSUER=cert-manager: the issuer every instance Certificate names. */
  CERT_MANAGER_ISSUER: optionalString,
  CERT_MANAGER_ISSUER_KIND: z.enum(['ClusterIssuer', 'Issuer']).default('ClusterIssuer'),
  KUBE_NAMESPACE: z.string().min(1).default('addon-instances'),
  /** LoadBalancer (published by external-dns) or ClusterIP (in-cluster clients only). */
  KUBE_SERVICE_TYPE: z.enum(['LoadBalancer', 'ClusterIP']).default('LoadBalancer'),
  KUBECONFIG: optionalString,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HEARTBEAT_MS: envInt(10_000, 100, 600_000),
  INVENTORY_MS: envInt(60_000, 1_000, 3_600_000),
  /** Port of GET /livez and /readyz; 0 turns the health server off. */
  HEALTH_PORT: envInt(8080, 0, 65_535),
  /** When set, GET /metrics on the health port wants `Authorization: Bearer <token>`. */
  METRICS_TOKEN: z.string().min(16).optional(),
});

/** Every env var the agent reads; the Helm chart test compares its env list against it. */
export const AGENT_ENV_VARS: readonly string[] = Object.keys(base.shape);

// Cross-field rules go through superRefine so parseEnv lists them with the field errors.
const schema = base.superRefine((e, ctx) => {
  for (const message of checkCombinations(e)) ctx.addIssue({ code: 'custom', message });
});

export interface AgentConfig {
  regions: string[];
  agentId: string;
  nats: NatsSettings;
  streamReplicas: number;
  driver: 'kubernetes' | 'local';
  dataDir: string;
  concurrency: number;
  maxDeliver: number;
  ackWaitMs: number;
  hostname: string;
  tlsIssuer: 'private-ca' | 'cert-manager';
  /** Name of the CA Secret for the kubernetes driver (default `region-agent-ca-<region>`). */
  caSecretName?: string;
  certManagerIssuer?: { name: string; kind: 'ClusterIssuer' | 'Issuer' };
  kubeNamespace: string;
  kubeServiceType: 'LoadBalancer' | 'ClusterIP';
  kubeconfig?: string;
  logLevel: string;
  heartbeatMs: number;
  inventoryMs: number;
  healthPort: number;
  metricsToken: string | undefined;
}

function checkCombinations(e: z.infer<typeof base>): string[] {
  const problems = natsAuthProblems(e);
  if (e.AGENT_DRIVER === 'local' && e.TLS_ISSUER === 'cert-manager') {
    problems.push('TLS_ISSUER=cert-manager needs AGENT_DRIVER=kubernetes');
  }
  if (e.TLS_ISSUER === 'cert-manager' && !e.CERT_MANAGER_ISSUER) {
    problems.push('CERT_MANAGER_ISSUER is required with TLS_ISSUER=cert-manager');
  }
  if (e.AGENT_DRIVER === 'kubernetes' && e.AGENT_REGION.length > 1) {
    problems.push('AGENT_DRIVER=kubernetes serves exactly one AGENT_REGION');
  }
  if (e.AGENT_DRIVER === 'kubernetes' && !e.AGENT_HOSTNAME) {
    problems.push('AGENT_HOSTNAME is required with AGENT_DRIVER=kubernetes');
  }
  return problems;
}

export function loadConfig(env: Env): AgentConfig {
  const e = parseEnv(schema, env, 'region-agent');
  const agentId = e.AGENT_ID ?? `${hostname()}-${process.pid}`;
  return {
    regions: e.AGENT_REGION,
    agentId,
    nats: {
      url: e.NATS_URL,
      name: `region-agent ${agentId}`,
      ...(e.NATS_CREDS_FILE ? { credsFile: e.NATS_CREDS_FILE } : {}),
      ...(e.NATS_USER ? { user: e.NATS_USER } : {}),
      ...(e.NATS_PASSWORD ? { password: e.NATS_PASSWORD } : {}),
      ...(e.NATS_TLS_CA_FILE ? { tlsCaFile: e.NATS_TLS_CA_FILE } : {}),
      inboxPrefix: e.NATS_INBOX_PREFIX ?? agentInboxPrefix(e.AGENT_REGION),
    },
    streamReplicas: e.NATS_STREAM_REPLICAS,
    driver: e.AGENT_DRIVER,
    dataDir: e.AGENT_DATA_DIR ?? join(tmpdir(), 'region-agent'),
    concurrency: e.AGENT_CONCURRENCY,
    maxDeliver: e.AGENT_MAX_DELIVER,
    ackWaitMs: e.AGENT_ACK_WAIT_MS,
    hostname: e.AGENT_HOSTNAME ?? 'localhost',
    tlsIssuer: e.TLS_ISSUER,
    ...(e.TLS_CA_SECRET ? { caSecretName: e.TLS_CA_SECRET } : {}),
    ...(e.CERT_MANAGER_ISSUER
      ? { certManagerIssuer: { name: e.CERT_MANAGER_ISSUER, kind: e.CERT_MANAGER_ISSUER_KIND } }
      : {}),
    kubeNamespace: e.KUBE_NAMESPACE,
    kubeServiceType: e.KUBE_SERVICE_TYPE,
    ...(e.KUBECONFIG ? { kubeconfig: e.KUBECONFIG } : {}),
    logLevel: e.LOG_LEVEL,
    heartbeatMs: e.HEARTBEAT_MS,
    inventoryMs: e.INVENTORY_MS,
    healthPort: e.HEALTH_PORT,
    metricsToken: e.METRICS_TOKEN,
  };
}
