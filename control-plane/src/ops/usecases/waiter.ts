/**
 * Waits for operations to finish across replicas: whichever replica applies a result
 * NOTIFYs `operation_done`; every replica LISTENs and wakes its local waiters.
 */
import type { Logger } from '../../../../shared/src/logger.js';
import { listen } from '../../db/listen.js';
import type { Pool } from '../../db/pool.js';
import { getOperation, OPERATION_DONE_CHANNEL, type OperationRow } from '../../db/operations.js';

export interface OperationWaiter {
  /** Resolves with the operation once finished, or its current row when `ms` elapse. */
  wait(operationId: string, ms: number): Promise<OperationRow | undefined>;
  close(): Promise<void>;
}

const finished = (op: OperationRow | undefined): boolean =>
  op?.state === 'succeeded' || op?.state === 'failed';

export async function createOperationWaiter(
  pool: Pool,
  databaseUrl: string,
  log: Logger,
): Promise<OperationWaiter> {
  const waiters = new Map<string, Set<() => void>>();
  // Waiters also poll every 250 ms, so a notification missed while reconnecting costs
  // at most that much.
  const listener = await listen({
    databaseUrl,
    channel: OPERATION_DONE_CHANNEL,
    name: 'operation waiter',
    log,
    onNotify: (id) => {
      for (const wake of waiters.get(id ?? '') ?? []) wake();
    },
  });

  return {
    async wait(operationId, ms) {
      let wake: () => void = () => {};
      const woken = new Promise<void>((resolve) => {
        wake = resolve;
      });
      const set = waiters.get(operationId) ?? new Set();
      set.add(wake);
      waiters.set(operationId, set);
      try {
        const deadline = Date.now() + ms;
        let op = await getOperation(pool, operationId);
        while (!finished(op) && Date.now() < deadline) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            woken,
            new Promise<void>((r) => (timer = setTimeout(r, Math.min(250, deadline - Date.now())))),
          ]);
          clearTimeout(timer);
          op = await getOperation(pool, operationId);
        }
        return op;
      } finally {
        set.delete(wake);
        if (set.size === 0) waiters.delete(operationId);
      }
    },
    async close() {
      await listener.close();
    },
  };
}
