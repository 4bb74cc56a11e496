/**
 * Is this add-on's app in a Private Space? Asked only for region values shared by the
 * Common Runtime and a Private Space (us-east-1, eu-west-1), and only when the answer
 * changes the outcome. Policy `platform-api` exchanges the grant, then GET /addons/{uuid} →
 * GET /apps/{id}: `space` non-null means a Private Space. If Heroku cannot be reached within
 * the timeout: 503, never a guess.
 *
 * The grant works once, and Heroku retries a provision that got a 503 with the same grant. So
 * the tokens are stored (encrypted, in Postgres) right after the exchange, before anything
 * else can fail, and a retry on any replica uses the stored tokens instead of the spent code.
 */
import { UnavailableError } from '../../../shared/src/errors.js';
import type { Pool } from '../db/pool.js';
import { getTokens } from '../db/tokens.js';
import {
  exchangeToken,
  NoTokensError,
  storeTokens,
  validAccessToken,
  type TokenDeps,
} from './oauth.js';
import type { HttpAnswer } from './http-client.js';

export type LookupPolicy = 'platform-api' | 'assume-common-runtime' | 'assume-private-space';

export interface SpaceAnswer {
  privateSpace: boolean;
  /** The grant was exchanged and its tokens stored: the provision must not exchange it again. */
  tokensStored: boolean;
}

/** Answers "is this add-on's app in a Private Space?" for the shared region values. */
export type PrivateSpaceLookup = (addon: {
  uuid: string;
  grantCode?: string;
}) => Promise<SpaceAnswer>;

export interface SpaceLookupDeps extends TokenDeps {
  policy: LookupPolicy;
  apiUrl: string;
  pool: Pool;
}

/** Stored tokens for this add-on (from an earlier attempt), else exchange the grant and store. */
/** The stored token, refreshed when due (or `force`d); a missing refresh token is a 503. */
async function storedToken(deps: SpaceLookupDeps, uuid: string, force = false): Promise<string> {
  return validAccessToken(deps.pool, deps, uuid, force).catch((cause: unknown) => {
    if (!(cause instanceof NoTokensError)) throw cause;
    throw new UnavailableError(
      'heroku_lookup_failed',
      'We could not renew our authorization to check where this app runs. Please try again.',
      { cause },
    );
  });
}

async function tokenFor(deps: SpaceLookupDeps, uuid: string, code: string): Promise<string> {
  if (await getTokens(deps.pool, uuid)) return storedToken(deps, uuid);
  const tokens = await exchangeToken(deps.oauth, { grant_type: 'authorization_code', code });
  await storeTokens(deps.pool, deps.sealer, deps.keyId, uuid, tokens);
  return tokens.accessToken;
}

async function getJson(
  deps: SpaceLookupDeps,
  path: string,
  token: string,
): Promise<Record<string, unknown>> {
  let res: HttpAnswer;
  try {
    res = await deps.oauth.http.send(`${deps.apiUrl}${path}`, {
      headers: {
        Authorization: `Bearer ${token}`,
        Accept: 'application/vnd.heroku+json; version=3',
      },
      timeoutMs: deps.oauth.timeoutMs,
    });
  } catch (cause) {
    throw new UnavailableError(
      'heroku_unreachable',
      'Heroku could not be reached to confirm where this app runs. Please try again.',
      { cause },
    );
  }
  if (res.status === 401) throw new Unauthorized();
  if (!res.ok)
    throw new UnavailableError(
      'heroku_lookup_failed',
      `Heroku answered HTTP ${res.status} while we checked where this app runs. Please try again.`,
    );
  return (await res.json()) as Record<string, unknown>;
}

/** Heroku refused the token: refresh it once, as the call worker does. */
class Unauthorized extends Error {}

async function inPrivateSpace(
  deps: SpaceLookupDeps,
  uuid: string,
  token: string,
): Promise<boolean> {
  const addon = await getJson(deps, `/addons/${uuid}`, token);
  const appId = (addon.app as { id?: string } | undefined)?.id;
  if (!appId)
    throw new UnavailableError(
      'heroku_lookup_failed',
      'Heroku did not tell us which app this add-on belongs to. Please try again.',
    );
  const app = await getJson(deps, `/apps/${appId}`, token);
  return app.space !== null && app.space !== undefined;
}

export function createSpaceLookup(deps: SpaceLookupDeps): PrivateSpaceLookup {
  return async ({ uuid, grantCode }) => {
    if (deps.policy === 'assume-common-runtime')
      return { privateSpace: false, tokensStored: false };
    if (deps.policy === 'assume-private-space') return { privateSpace: true, tokensStored: false };
    const privateSpace = await askHeroku(deps, uuid, grantCode);
    return { privateSpace, tokensStored: true };
  };
}

/** platform-api: exchange (or reuse) the tokens, then ask Heroku where the app runs. */
async function askHeroku(deps: SpaceLookupDeps, uuid: string, code?: string): Promise<boolean> {
  if (!code) {
    throw new UnavailableError(
      'no_grant',
      'We cannot confirm whether this app runs in a Private Space. Please choose a plan available in Private Spaces.',
    );
  }
  const token = await tokenFor(deps, uuid, code);
  try {
    return await inPrivateSpace(deps, uuid, token);
  } catch (err) {
    if (!(err instanceof Unauthorized)) throw err;
  }
  // A stored token Heroku no longer accepts (expired early, revoked): refresh and retry once.
  const fresh = await storedToken(deps, uuid, true);
  return inPrivateSpace(deps, uuid, fresh).catch((err: unknown) => {
    if (!(err instanceof Unauthorized)) throw err;
    throw new UnavailableError(
      'heroku_lookup_failed',
      'Heroku refused our authorization while we checked where this app runs. Please try again.',
    );
  });
}
