/**
 * The outbox dispatcher: publishes pending operations to JetStream with
 * `Nats-Msg-Id` = operation id, then marks them dispatched in the same transaction.
 * A crash between publish and commit re-publishes the same id, which JetStream's
 * duplicate window drops. Woken by LISTEN/NOTIFY, with a periodic sweep as a backstop.
 */
import type { JetStreamClient } from 'nats';
import type { Logger } from '../../../../shared/src/logger.js';
import { encodeMessage } from '../../../../shared/src/messages.js';
import { jobSubject } from '../../../../shared/src/subjects.js';
import type { Catalog } from '../../catalog/schema.js';
import { audit } from '../../db/audit.js';
import { listen as listenFor, type Listener } from '../../db/listen.js';
import { withTransaction, type Pool, type PoolClient } from '../../db/pool.js';
import {
  claimDispatchable,
  failOperation,
  markDispatched,
  OUTBOX_CHANNEL,
  type OperationRow,
} from '../../db/operations.js';
import { buildJob } from './job.js';
import { markOperationFailed } from '../completion/failure.js';

export interface DispatcherDeps {
  pool: Pool;
  databaseUrl: string;
  js: JetStreamClient;
  catalog: Catalog;
  configVarsPrefix: string;
  log: Logger;
  sweepMs: number;
  operationTimeoutMs: number;
  maxAttempts: number;
  batchSize?: number;
  /** Test hook: called after publishing, before commit (crash simulation). */
  afterPublish?: (ops: OperationRow[]) => void;
}

export interface Dispatcher {
  start(): Promise<void>;
  /** Dispatch everything ready now; resolves with the number published. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const batch = deps.batchSize ?? 100;
  let listen: Listener | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;

  async function dispatchBatch(client: PoolClient): Promise<number> {
    const ops = await claimDispatchable(client, batch);
    if (ops.length === 0) return 0;
    const toPublish: typeof ops = [];
    for (const op of ops) {
      if (op.state === 'dispatched' && op.attempts >= deps.maxAttempts) {
        const error = {
          code: 'timeout',
          message: `no result from the region agent after ${op.attempts} attempts`,
        };
        await failOperation(client, op.id, error);
        await markOperationFailed(client, op);
        await audit(client, {
          uuid: op.resource_uuid,
          actor: 'system',
          action: 'operation_timed_out',
          detail: { operationId: op.id, kind: op.kind },
        });
        deps.log.error(
          { operationId: op.id, resourceId: op.resource_uuid, kind: op.kind },
          'operation failed: retry budget exhausted',
        );
        continue;
      }
      toPublish.push(op);
    }
    await Promise.all(
      toPublish.map(async (op) => {
        const job = buildJob(
          deps.catalog,
          deps.configVarsPrefix,
          op,
          op.r,
          deps.operationTimeoutMs,
        );
        // First dispatch: msgID = operation id. A redispatch (after a deadline, or a retry of a
        // failed deprovision) must not be deduplicated; a crash before the commit repeats the id.
        const msgID = op.attempts === 0 ? op.id : `${op.id}:${op.attempts + 1}`;
        await deps.js.publish(jobSubject(op.r.agent_region, op.kind), encodeMessage(job), {
          msgID,
        });
      }),
    );
    deps.afterPublish?.(toPublish);
    await markDispatched(
      client,
      toPublish.map((o) => o.id),
      deps.operationTimeoutMs,
    );
    for (const op of toPublish) {
      deps.log.info(
        {
          operationId: op.id,
          resourceId: op.resource_uuid,
          kind: op.kind,
          attempt: op.attempts + 1,
        },
        'operation dispatched',
      );
    }
    return ops.length;
  }

  async function runOnce(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await withTransaction(deps.pool, dispatchBatch);
      total += n;
      if (n < batch) return total;
    }
  }

  function kick(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await runOnce();
        } catch (err) {
          deps.log.error({ err }, 'outbox dispatch failed; will retry on the next sweep');
        }
      } while (again && !stopped);
    })().finally(() => {
      running = undefined;
    });
  }

  return {
    async start() {
      listen = await listenFor({
        databaseUrl: deps.databaseUrl,
        channel: OUTBOX_CHANNEL,
        name: 'outbox',
        log: deps.log,
        onNotify: kick,
        onReconnect: kick,
      });
      timer = setInterval(kick, deps.sweepMs);
      kick();
    },
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await running;
      await listen?.close();
    },
  };
}
