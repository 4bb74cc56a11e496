/**
 * Per-key FIFO: operations on one resource run one at a time in arrival order, different
 * resources run concurrently. `size` counts queued and running work.
 */
export interface KeyedQueue {
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
  readonly size: number;
  /** Resolves when nothing is queued or running. */
  idle(): Promise<void>;
}

export function createKeyedQueue(): KeyedQueue {
  const tails = new Map<string, Promise<unknown>>();
  let size = 0;
  let idleWaiters: Array<() => void> = [];

  const settle = (): void => {
    size--;
    if (size === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  };

  return {
    run<T>(key: string, fn: () => Promise<T>): Promise<T> {
      size++;
      const previous = tails.get(key) ?? Promise.resolve();
      const current = previous.then(fn, fn);
      const tail = current.then(
        () => undefined,
        () => undefined,
      );
      tails.set(key, tail);
      void tail.then(() => {
        if (tails.get(key) === tail) tails.delete(key);
        settle();
      });
      return current;
    },
    get size(): number {
      return size;
    },
    idle(): Promise<void> {
      if (size === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
  };
}
