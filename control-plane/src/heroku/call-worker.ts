/**
 * Runs the durable queue of calls to Heroku: grant exchange, config PATCH, provision and
 * deprovision actions. Exponential backoff with jitter; 429 and RateLimit-Remaining
 * honoured; tokens refreshed before expiry and on a 401. A call that succeeded is never
 * sent again (its row is finished in the same transaction that holds its lock).
 */
import type { Logger } from '../../../shared/src/logger.js';
import type { Sealer } from '../crypto.js';
import { audit } from '../db/audit.js';
import {
  claimDueCall,
  deferResourceCalls,
  finishCall,
  HEROKU_CALLS_CHANNEL,
  retryCall,
  type CallKind,
  type CallRow,
} from '../db/calls.js';
import {
  createListenClient,
  withTransaction,
  type ListenClient,
  type Pool,
  type Queryable,
} from '../db/pool.js';
import { getResource } from '../db/resources.js';
import { deleteTokensIfGone, getTokens } from '../db/tokens.js';
import {
  exchangeToken,
  NoTokensError,
  OAuthRateLimitedError,
  storeTokens,
  validAccessToken,
  type OAuthSettings,
} from './oauth.js';
import { logplexFrame, splitCredentials } from './logplex.js';

export interface CallWorkerDeps {
  pool: Pool;
  databaseUrl: string;
  sealer: Sealer;
  keyId: string;
  log: Logger;
  apiUrl: string;
  oauth: OAuthSettings;
  concurrency?: number;
  pollMs?: number;
  maxAttempts?: number;
  fetch?: typeof fetch;
  userAgent?: string;
  /** Call kinds this worker may send (all it knows by default; tests play an older replica). */
  knownKinds?: readonly CallKind[];
}

export interface CallWorker {
  start(): Promise<void>;
  runOnce(): Promise<boolean>;
  stop(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export function backoffMs(attempt: number, random = Math.random): number {
  const base = Math.min(300_000, 1000 * 2 ** Math.min(attempt, 10));
  return base / 2 + random() * (base / 2);
}

export function createCallWorker(deps: CallWorkerDeps): CallWorker {
  const doFetch = deps.fetch ?? fetch;
  const maxAttempts = deps.maxAttempts ?? 25;
  // Pause of this whole replica: only for limits on the partner itself (the OAuth client).
  // A limit on one add-on's token holds that add-on's calls only (deferResourceCalls).
  let notBefore = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let listen: ListenClient | undefined;
  const running = new Set<Promise<void>>();

  async function accessToken(db: Queryable, uuid: string, force = false): Promise<string> {
    try {
      return await validAccessToken(db, deps, uuid, force);
    } catch (err) {
      if (err instanceof NoTokensError) throw new HttpError(401, err.message);
      throw err;
    }
  }

  async function api(
    db: Queryable,
    uuid: string,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      const token = await accessToken(db, uuid, attempt > 0);
      const res = await doFetch(`${deps.apiUrl}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: 'application/vnd.heroku+json; version=3',
          'Content-Type': 'application/json',
          'User-Agent': deps.userAgent ?? 'addon-control-plane',
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
      const remaining = res.headers.get('ratelimit-remaining');
      if (remaining !== null && Number(remaining) <= 0) await deferResourceCalls(db, uuid, 60_000);
      if (res.status === 401 && attempt === 0) continue;
      if (res.ok) return res.status === 204 ? undefined : res.json().catch(() => undefined);
      const retryAfter = Number(res.headers.get('retry-after'));
      throw new HttpError(
        res.status,
        `Heroku answered ${res.status} to ${method} ${path.replace(uuid, '{uuid}')}`,
        retryAfter > 0 ? retryAfter * 1000 : undefined,
      );
    }
  }

  async function perform(db: Queryable, call: CallRow): Promise<void> {
    const uuid = call.resource_uuid;
    switch (call.kind) {
      case 'exchange_grant': {
        if (await getTokens(db, uuid)) return; // already exchanged (e.g. by the Private Space lookup)
        const resource = await getResource(db, uuid);
        if (!resource?.oauth_grant_enc) throw new HttpError(400, 'no grant stored');
        const tokens = await exchangeToken(deps.oauth, {
          grant_type: 'authorization_code',
          code: deps.sealer.open(resource.oauth_grant_enc),
        });
        await storeTokens(db, deps.sealer, deps.keyId, uuid, tokens);
        return;
      }
      case 'config_update': {
        const config = deps.sealer.openJson<Record<string, string | null>>(call.payload_enc!);
        await api(db, uuid, 'PATCH', `/addons/${uuid}/config`, {
          config: Object.entries(config).map(([name, value]) => ({ name, value })),
        });
        return;
      }
      case 'provision_action':
        try {
          await api(db, uuid, 'POST', `/addons/${uuid}/actions/provision`);
        } catch (err) {
          // An earlier attempt may have landed before we could record it.
          if (err instanceof HttpError && err.status === 422) {
            const addon = (await api(db, uuid, 'GET', `/addons/${uuid}`)) as { state?: string };
            if (addon.state === 'provisioned') return;
          }
          throw err;
        }
        return;
      case 'deprovision_action':
        await api(db, uuid, 'POST', `/addons/${uuid}/actions/deprovision`);
        return;
      case 'app_log': {
        const resource = await getResource(db, uuid);
        if (!resource?.log_input_url_enc) return;
        const { url, authorization } = splitCredentials(
          deps.sealer.open(resource.log_input_url_enc),
        );
        const { message } = deps.sealer.openJson<{ message: string }>(call.payload_enc!);
        const body = logplexFrame(message, {
          appName: deps.userAgent ?? 'addon',
          procId: 'control-plane',
        });
        const res = await doFetch(url, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/logplex-1',
            'Logplex-Msg-Count': '1',
            'User-Agent': deps.userAgent ?? 'addon-control-plane',
            ...(authorization ? { Authorization: authorization } : {}),
          },
          body,
          signal: AbortSignal.timeout(10_000),
        });
        if (!res.ok) throw new HttpError(res.status, `logplex answered ${res.status}`);
        return;
      }
      default:
        // Never claimed (claimDueCall filters on known kinds); never marked done unsent either.
        throw new Error(`call kind ${String(call.kind)} is unknown to this release`);
    }
  }

  function permanent(call: CallRow, err: unknown): boolean {
    if (call.kind === 'provision_action') return false; // retried until it succeeds
    if (call.attempts + 1 >= maxAttempts) return true;
    if (err instanceof HttpError)
      return err.status >= 400 && err.status < 500 && err.status !== 429 && err.status !== 401;
    return false;
  }

  async function runOnce(): Promise<boolean> {
    if (Date.now() < notBefore) return false;
    return withTransaction(deps.pool, async (client) => {
      const call = await claimDueCall(client, deps.knownKinds);
      if (!call) return false;
      try {
        await perform(client, call);
        await finishCall(client, call.id, 'succeeded', 200, null);
        await audit(client, {
          uuid: call.resource_uuid,
          actor: 'system',
          action: `heroku_${call.kind}`,
          detail: { attempts: call.attempts + 1 },
        });
        deps.log.info(
          { resourceId: call.resource_uuid, call: call.kind, attempts: call.attempts + 1 },
          'heroku call succeeded',
        );
      } catch (err) {
        const status = err instanceof HttpError ? err.status : null;
        const message = (err as Error).message;
        if (permanent(call, err)) {
          await finishCall(client, call.id, 'failed', status, message);
          await audit(client, {
            uuid: call.resource_uuid,
            actor: 'system',
            action: `heroku_${call.kind}_failed`,
            detail: { status, message },
          });
          deps.log.error(
            { resourceId: call.resource_uuid, call: call.kind, status, err: message },
            'heroku call failed for good',
          );
        } else {
          const delay =
            status === 429
              ? Math.max((err as HttpError).retryAfterMs ?? 0, backoffMs(call.attempts))
              : backoffMs(call.attempts);
          if (status === 429)
            await deferResourceCalls(
              client,
              call.resource_uuid,
              (err as HttpError).retryAfterMs ?? 5000,
            );
          if (err instanceof OAuthRateLimitedError) notBefore = Date.now() + err.retryAfterMs;
          await retryCall(client, call.id, delay, status, message);
          deps.log.warn(
            {
              resourceId: call.resource_uuid,
              call: call.kind,
              status,
              retryInMs: Math.round(delay),
            },
            'heroku call will be retried',
          );
        }
      }
      if (await deleteTokensIfGone(client, call.resource_uuid))
        deps.log.info(
          { resourceId: call.resource_uuid },
          'heroku tokens of a removed add-on deleted',
        );
      return true;
    });
  }

  function kick(): void {
    const slots = (deps.concurrency ?? 4) - running.size;
    for (let i = 0; i < slots && !stopped; i++) {
      const p: Promise<void> = (async () => {
        try {
          while (!stopped && (await runOnce()));
        } catch (err) {
          deps.log.error({ err }, 'heroku call worker error');
        }
      })().finally(() => running.delete(p));
      running.add(p);
    }
  }

  return {
    async start() {
      listen = createListenClient(deps.databaseUrl);
      listen.on('notification', () => kick());
      listen.on('error', (err) =>
        deps.log.warn({ err }, 'heroku calls listen connection lost; polling'),
      );
      await listen.connect();
      await listen.query(`listen ${HEROKU_CALLS_CHANNEL}`);
      timer = setInterval(kick, deps.pollMs ?? 1000);
      kick();
    },
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await Promise.all(running);
      await listen?.end().catch(() => undefined);
    },
  };
}
