/**
 * What the SSO and dashboard handlers share: their deps with the defaults filled in, and the
 * session codec built from them (one per router).
 */
import type { Logger } from '../../../shared/src/logger.js';
import type { Sealer } from '../crypto.js';
import type { Plan } from '../catalog/schema.js';
import type { Pool } from '../db/pool.js';
import type { ControlPlaneMetrics } from '../metrics/metrics.js';
import { createSessionCodec, type SessionCodec } from './session.js';

export type RotateCredentials = (uuid: string, actor: `sso:${string}`) => Promise<void>;

export interface SsoDeps {
  pool: Pool;
  sealer: Sealer;
  log: Logger;
  salt: string;
  /** The manifest's config var prefix: the dashboard shows `<prefix>_URL`. */
  configVarsPrefix: string;
  sessionSecret: string;
  windowS: number;
  maxSkewS: number;
  /** Session lifetime (ms); 2 h by default. */
  sessionTtlMs?: number;
  rotateCredentials?: RotateCredentials;
  now?: () => number;
  /** How long old credentials keep working after a rotation (s); told to the customer. */
  rotationGraceS?: number;
  /** The catalog's plans: the dashboard says what the customer's plan includes. */
  plans?: Plan[];
  links?: DashboardLinks;
  metrics?: Pick<ControlPlaneMetrics, 'ssoLogin'>;
}

export interface DashboardLinks {
  docs?: string;
  support?: string;
}

export interface SsoSetup extends SsoDeps {
  sessionTtlMs: number;
  rotationGraceS: number;
  now: () => number;
  sessions: SessionCodec;
}

const DEFAULT_SESSION_TTL_MS = 2 * 3600_000;

export function setUpSso(deps: SsoDeps): SsoSetup {
  const sessionTtlMs = deps.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
  return {
    ...deps,
    sessionTtlMs,
    rotationGraceS: deps.rotationGraceS ?? 7200,
    now: deps.now ?? Date.now,
    sessions: createSessionCodec(deps.sessionSecret, sessionTtlMs),
  };
}
