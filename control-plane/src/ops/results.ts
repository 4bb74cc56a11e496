/**
 * Consumes agent results and applies them idempotently: a result for a finished
 * operation or an older generation changes nothing. Acked only after the commit.
 */
import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from 'nats';
import type { Logger } from '../../../shared/src/logger.js';
import type { MessageError} from '../../../shared/src/messages.js';
import { decodeMessage, ResultSchema, type Result } from '../../../shared/src/messages.js';
import { RESULTS_STREAM } from '../../../shared/src/subjects.js';
import type { Sealer } from '../crypto.js';
import { audit } from '../db/audit.js';
import { withTransaction, type Pool } from '../db/pool.js';
import { completeOperation, getOperation, recordProgress } from '../db/operations.js';
import { applyResult, getResource, type ResourceState } from '../db/resources.js';
import { markOperationFailed } from './finish.js';
import { scheduleRevocation } from './rotation.js';
import { enqueueAppLog, enqueueCompletion, lifecycleLine, type AsyncFailureAction } from './completion.js';

export const RESULTS_CONSUMER = 'control-plane';

export interface ResultConsumerDeps {
  failureAction: AsyncFailureAction;
  rotationGraceS: number;
  pool: Pool;
  js: JetStreamClient;
  jsm: JetStreamManager;
  sealer: Sealer;
  log: Logger;
}

export interface ResultConsumer {
  start(): Promise<void>;
  stop(): Promise<void>;
}

function stateAfter(result: Result, current: ResourceState): ResourceState {
  if (result.kind === 'deprovision') return result.status === 'succeeded' ? 'deprovisioned' : current;
  if (result.kind === 'provision') return result.status === 'succeeded' ? 'provisioned' : 'failed';
  return current === 'provisioning' && result.status === 'succeeded' ? 'provisioned' : current;
}

export async function applyAgentResult(deps: Pick<ResultConsumerDeps, 'pool' | 'sealer' | 'log' | 'failureAction' | 'rotationGraceS'>, result: Result): Promise<void> {
  if (result.status === 'progress') {
    await recordProgress(deps.pool, result.operationId, result.step ?? 'working');
    deps.log.info({ operationId: result.operationId, resourceId: result.uuid, step: result.step }, 'provisioning progress');
    return;
  }
  await withTransaction(deps.pool, async (client) => {
    const op = await getOperation(client, result.operationId);
    if (!op || op.resource_uuid !== result.uuid) {
      deps.log.warn({ operationId: result.operationId, resourceId: result.uuid }, 'result for an unknown operation ignored');
      return;
    }
    const error = result.error ? { code: result.error.code, message: result.error.message } : null;
    const changed = await completeOperation(client, op.id, result.status === 'succeeded' ? 'succeeded' : 'failed', error);
    if (!changed) {
      deps.log.info({ operationId: op.id }, 'duplicate result ignored');
      return;
    }
    const resource = (await getResource(client, op.resource_uuid, true))!;
    if (result.status === 'failed') {
      await markOperationFailed(client, op, error!);
    }
    const applied = await applyResult(client, {
      uuid: op.resource_uuid,
      generation: op.generation,
      state: stateAfter(result, resource.state),
      configEnc: result.status === 'succeeded' && result.config ? deps.sealer.sealJson(result.config) : null,
      endpoint: result.endpoint,
      certificate: result.certificate,
      deprovisioned: result.kind === 'deprovision' && result.status === 'succeeded',
    });
    if (changed.answer_async) await enqueueCompletion(client, deps.sealer, changed, deps.failureAction);
    const line = lifecycleLine(changed, resource.private_space ? `the ${resource.heroku_region} Private Space` : resource.heroku_region);
    if (line) await enqueueAppLog(client, deps.sealer, changed.resource_uuid, `op-${changed.generation}`, line);
    if (changed.kind === 'rotate_credentials' && changed.state === 'succeeded') {
      await scheduleRevocation(client, changed, deps.rotationGraceS);
    }
    await audit(client, {
      uuid: op.resource_uuid,
      actor: 'agent',
      action: `${op.kind}_${result.status}`,
      detail: { operationId: op.id, generation: op.generation, agentId: result.agentId, applied, error },
    });
    deps.log.info(
      { operationId: op.id, resourceId: op.resource_uuid, kind: op.kind, status: result.status, applied },
      'operation finished',
    );
  });
}

export function createResultConsumer(deps: ResultConsumerDeps): ResultConsumer {
  let stopped = false;
  let loop: Promise<void> | undefined;
  let stopIter: (() => void) | undefined;

  async function handle(msg: JsMsg): Promise<void> {
    let result: Result;
    try {
      result = decodeMessage(ResultSchema, msg.data);
    } catch (err) {
      deps.log.error({ err: (err as MessageError).message, subject: msg.subject }, 'malformed result terminated');
      msg.term();
      return;
    }
    try {
      await applyAgentResult(deps, result);
      msg.ack();
    } catch (err) {
      deps.log.error({ err, operationId: result.operationId }, 'applying result failed; will retry');
      msg.nak(2000);
    }
  }

  return {
    async start() {
      await deps.jsm.consumers
        .add(RESULTS_STREAM, {
          durable_name: RESULTS_CONSUMER,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: 30_000_000_000,
          max_ack_pending: 1000,
        })
        .catch(async (err) => {
          await deps.jsm.consumers.info(RESULTS_STREAM, RESULTS_CONSUMER).catch(() => {
            throw err;
          });
        });
      const consumer = await deps.js.consumers.get(RESULTS_STREAM, RESULTS_CONSUMER);
      loop = (async () => {
        while (!stopped) {
          try {
            const messages = await consumer.consume({ max_messages: 256 });
            stopIter = () => void messages.close();
            const inflight = new Set<Promise<void>>();
            for await (const msg of messages) {
              const p = handle(msg).finally(() => inflight.delete(p));
              inflight.add(p);
              if (inflight.size >= 32) await Promise.race(inflight);
              if (stopped) break;
            }
            await Promise.all(inflight);
          } catch (err) {
            if (!stopped) deps.log.warn({ err }, 'result consumer interrupted; resuming');
            await new Promise((r) => setTimeout(r, 500));
          }
        }
      })();
    },
    async stop() {
      stopped = true;
      stopIter?.();
      await loop;
    },
  };
}
