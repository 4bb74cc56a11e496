/**
 * A background pass that many events may ask for at once (a NOTIFY, a sweep timer, a
 * reconnect): at most one runs at a time, and asks that arrive while it runs fold into one
 * more run after it. `run` must not throw (log inside it).
 * A pass belongs to no request: it runs in the async context the coalescing was created in,
 * not in that of whoever kicked it (no request span as the parent of its queries).
 */
import { AsyncResource } from 'node:async_hooks';

export interface Coalescing {
  kick(): void;
  /** No new runs; resolves when the current one has finished. */
  stop(): Promise<void>;
}

export interface CoalescingOptions {
  /**
   * Runs start at least this far apart: under a stream of asks, each run then finds a batch
   * instead of the one or two items that arrived during the last (one statement each). An
   * ask after a quiet spell runs at once.
   */
  minGapMs?: number;
}

export function coalescing(run: () => Promise<void>, options: CoalescingOptions = {}): Coalescing {
  const minGapMs = options.minGapMs ?? 0;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  let lastStart = -Infinity;

  const kick = AsyncResource.bind((): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        // Timers run on whole, cached milliseconds and may fire a little early: wait again
        // until the gap has really passed.
        for (let wait = lastStart + minGapMs - performance.now(); wait > 0 && !stopped;) {
          await new Promise((r) => setTimeout(r, Math.ceil(wait)));
          wait = lastStart + minGapMs - performance.now();
        }
        if (stopped) break;
        lastStart = performance.now();
        await run();
      } while (again && !stopped);
    })().finally(() => {
      running = undefined;
    });
  });

  return {
    kick,
    async stop() {
      stopped = true;
      await running;
    },
  };
}
