/**
 * Sends one queued call to Heroku: the grant exchange (id.heroku.com), the Platform API calls
 * made with the add-on's own token (refreshed before expiry and on a 401), and lines for the
 * app's log (its log_input_url). A rate limit met with an add-on's token pauses that token
 * only, for every replica (pauseToken; claimDueCall skips its calls meanwhile): one add-on
 * that spent its budget must not hold up the others.
 */
import type { Logger } from '../../../shared/src/logger.js';
import type { Sealer } from '../crypto.js';
import type { ClaimedCall } from '../db/calls.js';
import type { Queryable } from '../db/pool.js';
import { pauseToken } from '../db/tokens.js';
import { logplexFrame, splitCredentials } from './logplex.js';
import {
  exchangeToken,
  freshEnough,
  NoTokensError,
  storeTokens,
  validAccessToken,
  type OAuthSettings,
} from './oauth.js';
import type { HttpAnswer } from './http-client.js';
import { rateLimitPauseMs, type RateLimitPauses } from './rate-limit.js';

export interface CallSenderDeps {
  sealer: Sealer;
  keyId: string;
  log: Logger;
  apiUrl: string;
  oauth: OAuthSettings;
  pauses: RateLimitPauses;
  userAgent?: string;
}

/**
 * Heroku (or logplex) refused the call; `pauseMs` is set when the answer was a rate limit,
 * `final` when Heroku's own state says no attempt can ever succeed.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly pauseMs?: number,
    readonly final = false,
  ) {
    super(message);
  }
}

class UnknownCallKindError extends Error {
  constructor(kind: never) {
    super(`call kind ${String(kind)} is unknown to this build`);
  }
}

export type SendCall = (db: Queryable, call: ClaimedCall) => Promise<void>;

/** The deps with their defaults resolved. */
interface Sender extends CallSenderDeps {
  userAgentHeader: string;
}

/** The token the claim read when it is fresh enough, else the stored one (refreshed if due). */
async function accessToken(
  deps: Sender,
  db: Queryable,
  call: ClaimedCall,
  force: boolean,
): Promise<string> {
  const claimed = call.access_token_enc;
  if (!force && claimed && call.token_expires_at && freshEnough(call.token_expires_at))
    return deps.sealer.open(claimed);
  try {
    return await validAccessToken(db, deps, call.resource_uuid, force);
  } catch (err) {
    if (err instanceof NoTokensError) throw new HttpError(401, err.message);
    throw err;
  }
}

/** The answer to a call with this add-on's token says its budget is spent: pause the token. */
async function noteTokenLimit(
  deps: Sender,
  db: Queryable,
  uuid: string,
  res: HttpAnswer,
): Promise<void> {
  const pauseMs = rateLimitPauseMs(res.status, res.headers, deps.pauses);
  if (pauseMs === undefined) return;
  await pauseToken(db, uuid, pauseMs);
  deps.log.warn(
    { resourceId: uuid, status: res.status, pauseMs },
    'heroku rate limit: calls with this add-on token paused',
  );
}

async function api(
  deps: Sender,
  db: Queryable,
  call: ClaimedCall,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const uuid = call.resource_uuid;
  for (let attempt = 0; ; attempt++) {
    const token = await accessToken(deps, db, call, attempt > 0);
    const res = await deps.oauth.http.send(`${deps.apiUrl}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        Accept: 'application/vnd.heroku+json; version=3',
        'Content-Type': 'application/json',
        'User-Agent': deps.userAgentHeader,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      timeoutMs: 15_000,
    });
    await noteTokenLimit(deps, db, uuid, res);
    if (res.status === 401 && attempt === 0) continue;
    if (res.ok) return res.status === 204 ? undefined : res.json().catch(() => undefined);
    throw new HttpError(
      res.status,
      `Heroku answered ${res.status} to ${method} ${path.replace(uuid, '{uuid}')}`,
      rateLimitPauseMs(res.status, res.headers, deps.pauses),
    );
  }
}

/** The claim read whether tokens exist and the sealed grant: no further reads before the POST. */
async function exchangeGrant(deps: Sender, db: Queryable, call: ClaimedCall): Promise<void> {
  if (call.has_tokens) return; // already exchanged (e.g. by the Private Space lookup)
  if (!call.oauth_grant_enc) throw new HttpError(400, 'no grant stored');
  const tokens = await exchangeToken(deps.oauth, {
    grant_type: 'authorization_code',
    code: deps.sealer.open(call.oauth_grant_enc),
  });
  await storeTokens(db, deps.sealer, deps.keyId, call.resource_uuid, tokens);
}

async function provisionAction(deps: Sender, db: Queryable, call: ClaimedCall): Promise<void> {
  const uuid = call.resource_uuid;
  try {
    await api(deps, db, call, 'POST', `/addons/${uuid}/actions/provision`);
  } catch (err) {
    if (!(err instanceof HttpError) || err.status !== 422) throw err;
    // An earlier attempt may have landed before we could record it; or the add-on is no
    // longer waiting for us (deprovisioned, failed), and no attempt can ever succeed.
    const addon = (await api(deps, db, call, 'GET', `/addons/${uuid}`)) as { state?: string };
    if (addon.state === 'provisioned') return;
    if (addon.state === 'provisioning') throw err;
    throw new HttpError(
      422,
      `${err.message}; the add-on is ${String(addon.state ?? 'in an unknown state')} at Heroku`,
      undefined,
      true,
    );
  }
}

/** Logplex is not the Platform API: a 429 from it delays this line only (its own backoff). */
async function appLog(deps: Sender, call: ClaimedCall): Promise<void> {
  if (!call.log_input_url_enc) return; // the claim read where the app's log goes
  const { url, authorization } = splitCredentials(deps.sealer.open(call.log_input_url_enc));
  const { message } = deps.sealer.openJson<{ message: string }>(call.payload_enc!);
  const res = await deps.oauth.http.send(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/logplex-1',
      'Logplex-Msg-Count': '1',
      'User-Agent': deps.userAgentHeader,
      ...(authorization ? { Authorization: authorization } : {}),
    },
    body: logplexFrame(message, { appName: deps.userAgent ?? 'addon', procId: 'control-plane' }),
    timeoutMs: 10_000,
  });
  if (!res.ok) {
    const pauseMs = rateLimitPauseMs(res.status, res.headers, deps.pauses);
    throw new HttpError(res.status, `logplex answered ${res.status}`, pauseMs);
  }
}

export function createCallSender(options: CallSenderDeps): SendCall {
  const deps: Sender = {
    ...options,
    userAgentHeader: options.userAgent ?? 'addon-control-plane',
  };
  return async function sendCall(db, call) {
    const uuid = call.resource_uuid;
    switch (call.kind) {
      case 'exchange_grant':
        return exchangeGrant(deps, db, call);
      case 'config_update': {
        const config = deps.sealer.openJson<Record<string, string | null>>(call.payload_enc!);
        const entries = Object.entries(config).map(([name, value]) => ({ name, value }));
        await api(deps, db, call, 'PATCH', `/addons/${uuid}/config`, { config: entries });
        return;
      }
      case 'provision_action':
        return provisionAction(deps, db, call);
      case 'deprovision_action':
        await api(deps, db, call, 'POST', `/addons/${uuid}/actions/deprovision`);
        return;
      case 'app_log':
        return appLog(deps, call);
      default:
        // claimDueCall hands out known kinds only; should one slip through, fail the attempt
        // (it is retried) rather than fall out of the switch and be recorded as sent.
        throw new UnknownCallKindError(call.kind);
    }
  };
}
