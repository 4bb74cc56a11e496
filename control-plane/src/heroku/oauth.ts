/** Grant-code exchange with Heroku's identity service (id.heroku.com). */
import { UnavailableError } from '../../../shared/src/errors.js';
import type { Sealer } from '../crypto.js';
import type { Queryable } from '../db/pool.js';
import { getTokens, saveTokens } from '../db/tokens.js';
import type { Logger } from '../../../shared/src/logger.js';
import type { HttpAnswer, HttpClient } from './http-client.js';
import { retryAfterMs } from './rate-limit.js';

export interface Tokens {
  accessToken: string;
  refreshToken: string | null;
  expiresAt: Date;
}

export interface OAuthSettings {
  idUrl: string;
  clientSecret: string;
  timeoutMs: number;
  http: HttpClient;
}

/**
 * POST /oauth/token. Heroku's example sends the parameters in the query string; we send
 * them as a form body (the usual OAuth form) and in the query, which covers both readings
 * of the contract (unconfirmed: Heroku's reference shows only the query string;
 * https://devcenter.heroku.com/articles/add-on-partner-api-reference#grant-code-exchange).
 */
export async function exchangeToken(
  settings: OAuthSettings,
  params: Record<string, string>,
): Promise<Tokens> {
  const form = new URLSearchParams({ ...params, client_secret: settings.clientSecret });
  let res: HttpAnswer;
  try {
    res = await settings.http.send(`${settings.idUrl}/oauth/token?${form.toString()}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: form.toString(),
      timeoutMs: settings.timeoutMs,
    });
  } catch (cause) {
    throw new UnavailableError(
      'heroku_unreachable',
      'Heroku could not be reached to confirm where this app runs. Please try again.',
      { cause },
    );
  }
  if (res.status === 429) {
    throw new OAuthRateLimitedError(retryAfterMs(res.headers.get('retry-after')) ?? 5_000);
  }
  if (!res.ok) throw new OAuthRefusedError(res.status, await refusalReason(res));
  const body = (await res.json()) as {
    access_token?: string;
    refresh_token?: string;
    expires_in?: number;
  };
  if (!body.access_token)
    throw new UnavailableError(
      'oauth_failed',
      'Heroku returned no access token. Please try again.',
    );
  return {
    accessToken: body.access_token,
    refreshToken: body.refresh_token ?? null,
    expiresAt: new Date(Date.now() + (body.expires_in ?? 28_800) * 1000),
  };
}

/** What Heroku's identity service said when it refused: its message, or the OAuth error code. */
async function refusalReason(res: HttpAnswer): Promise<string> {
  const body = (await res.json().catch(() => undefined)) as
    { message?: unknown; error?: unknown; error_description?: unknown; id?: unknown } | undefined;
  const said = [body?.error ?? body?.id, body?.error_description ?? body?.message]
    .filter((part): part is string => typeof part === 'string' && part.length > 0)
    .join(': ');
  return said.slice(0, 300) || 'no reason given';
}

/**
 * Heroku's identity service refused the grant code or refresh token. A 4xx (400/401/403:
 * invalid_grant, a code used or expired, a revoked refresh token) is final: the same request
 * can never succeed, so the call that needed it fails for good instead of retrying. A 5xx is
 * Heroku's own trouble and is retried.
 */
export class OAuthRefusedError extends UnavailableError {
  constructor(
    readonly status: number,
    readonly reason: string,
  ) {
    super('oauth_failed', `Heroku refused the authorization (HTTP ${status}). Please try again.`);
  }

  /** For operators (logs, the call's last_error); `message` stays the customer-safe text. */
  get detail(): string {
    return `Heroku's identity service answered ${this.status}: ${this.reason}`;
  }

  get final(): boolean {
    return this.status >= 400 && this.status < 500 && this.status !== 429;
  }
}

/**
 * Heroku's identity service rate-limited our OAuth client: a limit on the partner as a whole,
 * not on one add-on's token, so every exchange and refresh of this replica should wait.
 */
export class OAuthRateLimitedError extends UnavailableError {
  constructor(readonly retryAfterMs: number) {
    super('oauth_rate_limited', 'Heroku is busy; please try again in a minute.');
  }
}

/** Persist a token pair for one add-on, encrypted at rest. */
export async function storeTokens(
  db: Queryable,
  sealer: Sealer,
  keyId: string,
  uuid: string,
  tokens: Tokens,
): Promise<void> {
  await saveTokens(db, {
    uuid,
    accessEnc: sealer.seal(tokens.accessToken),
    refreshEnc: tokens.refreshToken ? sealer.seal(tokens.refreshToken) : null,
    expiresAt: tokens.expiresAt,
    keyId,
  });
}

/** No usable token pair is stored for the add-on (grant never exchanged, or no refresh token). */
export class NoTokensError extends Error {
  override name = 'NoTokensError';
}

export interface TokenDeps {
  sealer: Sealer;
  keyId: string;
  oauth: OAuthSettings;
  log: Logger;
}

/** An access token that expires within 2 minutes is refreshed before it is used. */
export const freshEnough = (expiresAt: Date): boolean => expiresAt.getTime() - Date.now() > 120_000;

/** The add-on's access token, refreshed (and stored) when it expires within 2 minutes or `force`. */
export async function validAccessToken(
  db: Queryable,
  deps: TokenDeps,
  uuid: string,
  force = false,
): Promise<string> {
  const row = await getTokens(db, uuid);
  if (!row) throw new NoTokensError('no tokens for this add-on (grant not exchanged)');
  if (!force && freshEnough(row.expires_at)) return deps.sealer.open(row.access_token_enc);
  if (!row.refresh_token_enc) throw new NoTokensError('access token expired and no refresh token');
  const tokens = await exchangeToken(deps.oauth, {
    grant_type: 'refresh_token',
    refresh_token: deps.sealer.open(row.refresh_token_enc),
  });
  await storeTokens(db, deps.sealer, deps.keyId, uuid, tokens);
  deps.log.info({ resourceId: uuid }, 'heroku access token refreshed');
  return tokens.accessToken;
}
