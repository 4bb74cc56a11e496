/**
 * The one way both deployables connect to NATS: a creds file (nsc JWT) or user and password,
 * TLS verified against a CA file when given, and the client's own inbox prefix. The prefix
 * matters for security, not only tidiness: JetStream pull deliveries and request replies go to
 * the client's inbox, so each agent gets `_INBOX_<region>` and its NATS user may subscribe to
 * that prefix only (deploy/nats.md); another region's jobs never reach a subject it can read.
 */
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import { z } from 'zod';

export interface NatsSettings {
  /** One URL or a comma-separated list. */
  url: string;
  /** Connection name shown by `nats server report connections`. */
  name: string;
  credsFile?: string;
  user?: string;
  password?: string;
  /** PEM CA bundle the server's certificate must chain to (turns TLS on). */
  tlsCaFile?: string;
  /** Inbox prefix without the trailing dot (`_INBOX_us-east`); the nats.js default otherwise. */
  inboxPrefix?: string;
}

/** A prefix is one or more subject tokens, no wildcards, no trailing dot. */
export const InboxPrefixSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
    'must be subject tokens without wildcards, e.g. _INBOX_us-east',
  );

/** The control plane's inbox prefix: the only inboxes agents may publish to (their replies). */
export const CONTROL_PLANE_INBOX_PREFIX = '_INBOX_control-plane';

/** The inbox prefix of an agent serving these regions (one region in production). */
export function agentInboxPrefix(regions: readonly string[]): string {
  return `_INBOX_${[...regions].sort().join('_')}`;
}

/** Credential env combinations both deployables refuse (NATS_USER / NATS_PASSWORD / NATS_CREDS_FILE). */
export function natsAuthProblems(e: {
  NATS_USER?: string;
  NATS_PASSWORD?: string;
  NATS_CREDS_FILE?: string;
}): string[] {
  const problems: string[] = [];
  if ((e.NATS_USER === undefined) !== (e.NATS_PASSWORD === undefined))
    problems.push('NATS_USER and NATS_PASSWORD must be set together');
  if (e.NATS_CREDS_FILE && e.NATS_USER)
    problems.push('set either NATS_CREDS_FILE or NATS_USER/NATS_PASSWORD, not both');
  return problems;
}

const SERVER = /^((nats|tls|ws|wss):\/\/)?[^\s/,]+(:\d+)?\/?$/;

/**
 * The servers of a `NATS_URL`: one URL or a comma-separated list (a cluster's nodes). nats.js
 * given the whole list as one string keeps only its last server, so every connection goes
 * through this, and both configs validate with NatsUrlSchema.
 */
export function parseNatsServers(url: string): string[] {
  return url
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
}

/** NATS_URL: one or more servers, comma-separated (`nats://a:4222,nats://b:4222`). */
export const NatsUrlSchema = z
  .string()
  .refine((v) => parseNatsServers(v).length > 0, 'must name at least one server')
  .refine(
    (v) => parseNatsServers(v).every((s) => SERVER.test(s)),
    'must be NATS server URLs separated by commas, e.g. nats://nats-0:4222,nats://nats-1:4222',
  );

export function natsConnectionOptions(s: NatsSettings): ConnectionOptions {
  if (s.credsFile && s.user)
    throw new Error('set either a NATS creds file or a NATS user, not both');
  const options: ConnectionOptions = {
    servers: parseNatsServers(s.url),
    name: s.name,
    maxReconnectAttempts: -1,
    // No stack captured per request: every JetStream publish is a request, and building an
    // Error for its trace cost the control plane's dispatcher ~280 ms per acceptance round.
    // A timeout still says what timed out; it no longer says from which line.
    noAsyncTraces: true,
  };
  if (s.credsFile) options.authenticator = credsAuthenticator(readFileSync(s.credsFile));
  if (s.user) options.user = s.user;
  if (s.password) options.pass = s.password;
  if (s.tlsCaFile) options.tls = { caFile: s.tlsCaFile };
  if (s.inboxPrefix) options.inboxPrefix = InboxPrefixSchema.parse(s.inboxPrefix);
  return options;
}

export async function connectNats(s: NatsSettings): Promise<NatsConnection> {
  return connect(natsConnectionOptions(s));
}
