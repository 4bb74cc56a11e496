/**
 * The call worker's side of removing what an add-on that Heroku has removed leaves behind:
 * its queued calls that need its authorization, and its tokens (the rule is in db/tokens.ts,
 * forgetGoneAddons). Applied around each call of that add-on, and by a periodic sweep for
 * add-ons no call or result brings up (leftovers from before the rule, a deprovision given up),
 * which also removes the tokens of Private Space lookups whose provision never got a resource.
 */
import type { Logger } from '../../../shared/src/logger.js';
import { isAddonGone, type ClaimedCall } from '../db/calls.js';
import { withTransaction, type Pool, type Queryable } from '../db/pool.js';
import {
  deleteOrphanTokens,
  deleteTokensIfGone,
  deleteTokensOfGoneAddons,
  type GoneCleanup,
} from '../db/tokens.js';

/** A lookup's tokens for a provision that never got a resource are kept this long. */
const ORPHAN_TOKENS_S = 24 * 3600;

export interface GoneAddonsDeps {
  pool: Pool;
  log: Logger;
  /** Between sweeps (default 10 minutes); the first runs at start. */
  sweepMs?: number;
}

export interface GoneAddons {
  /** Before sending: true when `call` was dropped because its add-on is gone (as the claim read). */
  dropIfGone(db: Queryable, call: ClaimedCall): Promise<boolean>;
  /**
   * After an attempt: that attempt may have been what held the tokens, or what removed the
   * add-on. `gone` when the attempt's own finishing statement already read it.
   */
  afterCall(db: Queryable, uuid: string, gone?: boolean): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

export function createGoneAddons(deps: GoneAddonsDeps): GoneAddons {
  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;

  function report(cleanup: GoneCleanup): void {
    for (const call of cleanup.dropped) {
      deps.log.info(
        { resourceId: call.resource_uuid, call: call.kind, callId: call.id },
        'heroku call dropped: the add-on was removed',
      );
    }
    for (const resourceId of cleanup.deleted) {
      deps.log.info({ resourceId }, 'heroku tokens of a removed add-on deleted');
    }
  }

  async function sweep(): Promise<void> {
    try {
      report(await withTransaction(deps.pool, (client) => deleteTokensOfGoneAddons(client)));
      // Tokens a Private Space lookup stored for a provision that never got a resource.
      const removed = await deleteOrphanTokens(deps.pool, ORPHAN_TOKENS_S);
      if (removed > 0) deps.log.info({ removed }, 'tokens of abandoned provisions removed');
    } catch (err) {
      deps.log.warn({ err }, 'removed add-on sweep failed; retried at the next sweep');
    }
  }

  return {
    // Around every call: a cheap read first (the claim's), so a live add-on's call costs no
    // cleanup writes.
    async dropIfGone(db, call) {
      if (!call.gone) return false;
      const cleanup = await deleteTokensIfGone(db, call.resource_uuid, call.id);
      report(cleanup);
      return cleanup.dropped.some((d) => d.id === call.id);
    },
    async afterCall(db, uuid, gone) {
      if (gone ?? (await isAddonGone(db, uuid))) report(await deleteTokensIfGone(db, uuid));
    },
    start() {
      const run = (): void => {
        sweeping ??= sweep().finally(() => (sweeping = undefined));
      };
      timer = setInterval(run, deps.sweepMs ?? 600_000);
      run();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await sweeping;
    },
  };
}
