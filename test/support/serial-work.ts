/** Work done one piece at a time in the background, as a controller's reconcile loop does. */
export interface SerialWork {
  /** Queues `fn`; errors are reported, never thrown into the caller. */
  enqueue(fn: () => Promise<void>): Promise<void>;
  /** Resolves when nothing is queued or running (including work queued meanwhile). */
  idle(): Promise<void>;
}

export function createSerialWork(name: string): SerialWork {
  let work: Promise<void> = Promise.resolve();
  return {
    enqueue(fn) {
      work = work
        .then(fn)
        .catch((err: unknown) => console.error(`${name}:`, (err as Error).message));
      return work;
    },
    async idle() {
      let seen: Promise<void>;
      do {
        seen = work;
        await seen;
      } while (seen !== work);
    },
  };
}
