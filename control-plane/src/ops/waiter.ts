/**
 * Waits for operations to finish across replicas: whichever replica applies a result
 * NOTIFYs `operation_done`; every replica LISTENs and wakes its local waiters.
 */
import type { Logger } from '../../../shared/src/logger.js';
import { createListenClient, type ListenClient, type Pool } from '../db/pool.js';
import { getOperation, OPERATION_DONE_CHANNEL, type OperationRow } from '../db/operations.js';

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
  let client: ListenClient | undefined;
  let closed = false;

  const connect = async (): Promise<void> => {
    const c = createListenClient(databaseUrl);
    c.on('notification', (n) => {
      if (n.channel !== OPERATION_DONE_CHANNEL || !n.payload) return;
      for (const wake of waiters.get(n.payload) ?? []) wake();
    });
    c.on('error', (err) => {
      log.warn({ err }, 'operation waiter listen connection lost');
      // Waiters still poll once at their deadline; reconnect for the next ones.
      if (!closed) setTimeout(() => void connect().catch(() => undefined), 1000);
    });
    await c.connect();
    await c.query(`listen ${OPERATION_DONE_CHANNEL}`);
    client = c;
  };
  await connect();

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
      closed = true;
      await client?.end().catch(() => undefined);
    },
  };
}
