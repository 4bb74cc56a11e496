/**
 * Folds concurrent requests for the same kind of write into one: `add` returns a promise of
 * its own item's result. When nothing is being written the item is written at once (no added
 * latency when idle); items that arrive while a write is in flight wait for it and then go
 * together, up to `maxBatch` at a time. If a write fails, every item in it fails with that
 * error (the caller decides what a lost write means).
 */
export interface Batcher<T, R> {
  add(item: T): Promise<R>;
  /** Resolves when everything added so far has been written (or has failed). */
  drain(): Promise<void>;
}

interface Waiting<T, R> {
  item: T;
  resolve(result: R): void;
  reject(err: unknown): void;
}

export function createBatcher<T, R>(
  write: (items: T[]) => Promise<R[]>,
  maxBatch = 500,
): Batcher<T, R> {
  const queue: Waiting<T, R>[] = [];
  let writing: Promise<void> | undefined;

  async function writeAll(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      try {
        const results = await write(batch.map((w) => w.item));
        batch.forEach((w, i) => w.resolve(results[i]!));
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
  }

  function start(): void {
    writing ??= writeAll().finally(() => {
      writing = undefined;
      if (queue.length > 0) start();
    });
  }

  return {
    add(item) {
      const result = new Promise<R>((resolve, reject) => queue.push({ item, resolve, reject }));
      start();
      return result;
    },
    async drain() {
      while (writing) await writing;
    },
  };
}
