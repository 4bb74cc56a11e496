/** Public shapes of the Heroku simulator (id.heroku.com + api.heroku.com + logplex on one port). */
import type { IncomingHttpHeaders } from 'node:http';

export interface HerokuSimOptions {
  /** The add-on's OAuth client secret (Partner Portal "OAuth Credentials"). */
  clientSecret?: string;
  /** Access-token lifetime; Heroku's is ~8 h (28800). */
  accessTokenTtlS?: number;
  /** Grant-code lifetime; Heroku's is ~5 min (300). */
  grantTtlS?: number;
  /** Clock in epoch ms, so tests can move time instead of sleeping. */
  now?: () => number;
  /** Port to listen on (0 = random). */
  port?: number;
  host?: string;
  /** Where the state is kept across restarts (a JSON file); in memory only when unset. */
  stateFile?: string;
  /** The partner's SSO endpoint and salt: enables `GET /sso/{uuid}`, a self-posting SSO form. */
  sso?: { url: string; salt: string; email?: string };
  /** The Platform API's request budget, one token bucket per add-on authorization. */
  rateLimit?: RateLimitOptions;
}

/**
 * Heroku documents a token bucket of 4,500 requests refilled at about 75 a minute, with the
 * budget left in `RateLimit-Remaining` and a 429 `rate_limit` once it is spent (§4.3). Whether
 * partner tokens share an account bucket is UNCONFIRMED; the sim keeps one per add-on token,
 * so one add-on can be limited while another is not.
 */
export interface RateLimitOptions {
  /** Requests a full bucket holds (4500). */
  capacity?: number;
  /** Requests added back per minute (75). */
  refillPerMinute?: number;
  /** Send `Retry-After` (seconds) with a 429; Heroku does not document one, so off by default. */
  retryAfterS?: number;
}

export interface RecordedCall {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** JSON or form bodies parsed, other bodies as text, undefined when empty. */
  body: unknown;
  status: number;
  time: Date;
}

export interface Injection {
  method?: string;
  path: RegExp;
  /** Status to answer with; omit to only delay and then answer normally. */
  status?: number;
  /** How many matching requests this applies to (default 1). */
  times?: number;
  headers?: Record<string, string>;
  delayMs?: number;
  body?: unknown;
}

export interface LogLine {
  priority: number;
  version: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  structuredData: string;
  message: string;
}

export type AddonState = 'provisioning' | 'provisioned' | 'deprovisioned';

export interface SimApp {
  id: string;
  name: string;
  region: string;
  privateSpace: boolean;
}

export interface SimAddon {
  id: string;
  name: string;
  plan: string;
  region: string;
  state: AddonState;
  appId: string;
  providerId: string | null;
  config: Map<string, string>;
  logToken: string;
  provisionActionCalls: number;
  deprovisionActionCalls: number;
}

export interface ProvisionBody {
  uuid: string;
  name: string;
  plan: string;
  region: string;
  callback_url: string;
  oauth_grant: { code: string; expires_at: string; type: 'authorization_code' };
  options: Record<string, string>;
  log_input_url: string;
  [extra: string]: unknown;
}

export interface BasicAuth {
  id: string;
  password: string;
}

export interface CpResponse {
  status: number;
  body: unknown;
}

export interface CreateAddonInput {
  plan: string;
  /** Heroku region name (`us`, `eu`, `virginia`, …) or a full `amazon-web-services::…` value. */
  region: string;
  app?: { name: string; privateSpace?: boolean };
}

export interface SsoInput {
  email: string;
  userId: string;
  salt: string;
  /** Unix seconds; defaults to now. */
  timestamp?: number;
}

export interface SsoFormFields {
  resource_id: string;
  resource_token: string;
  user_scoped_resource_token: string;
  timestamp: string;
  user_id: string;
  email: string;
  app: string;
  context_app: string;
  'nav-data': string;
}
