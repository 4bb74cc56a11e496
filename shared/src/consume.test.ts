import { Writable } from 'node:stream';
import { ConsumerEvents, type ConsumerMessages, type ConsumerStatus } from 'nats';
import { STALL_RESTART_MS, watchConsume } from './consume.js';
import { createLogger } from './logger.js';

/** A consume() iterator whose status events the test pushes. */
function fakeMessages(events: ConsumerStatus[]): ConsumerMessages & { closed: boolean } {
  const fake = {
    closed: false,
    status: () =>
      Promise.resolve(
        (async function* () {
          for (const e of events) {
            await new Promise((r) => setImmediate(r));
            yield e;
          }
        })(),
      ),
    close: () => {
      fake.closed = true;
      return Promise.resolve();
    },
  };
  return fake as unknown as ConsumerMessages & { closed: boolean };
}

function capture(): {
  log: ReturnType<typeof createLogger>;
  lines: () => Record<string, unknown>[];
} {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk.toString());
      cb();
    },
  });
  const log = createLogger({ name: 't', level: 'info', destination: sink });
  return { log, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

it('logs a stall once, and its end at the next message', async () => {
  const { log, lines } = capture();
  let t = 1_000;
  const missed = { type: ConsumerEvents.HeartbeatsMissed, data: 2 };
  const watch = watchConsume(fakeMessages([missed, missed, missed]), log, 'c', () => t);
  await watch.done;
  t = 4_500;
  watch.received();
  watch.received();
  expect(lines().map((l) => [l.msg, l.stalledMs])).toEqual([
    ['consumer stalled: heartbeats missed; re-pulling', undefined],
    ['consumer resumed', 3_500],
  ]);
});

it('closes the iterator when its consumer is gone, so the loop makes it again', async () => {
  const { log, lines } = capture();
  const gone = { type: ConsumerEvents.ConsumerNotFound, data: 1 };
  const messages = fakeMessages([gone, { type: ConsumerEvents.HeartbeatsMissed, data: 2 }]);
  await watchConsume(messages, log, 'c').done;
  expect(messages.closed).toBe(true);
  expect(lines().map((l) => l.msg)).toEqual(['consumer lost; recreating it']);
});

it('restarts the iterator when heartbeats stay missing past STALL_RESTART_MS', async () => {
  const { log, lines } = capture();
  let t = 0;
  const missed = { type: ConsumerEvents.HeartbeatsMissed, data: 2 };
  const messages = fakeMessages([missed, missed, missed, missed]);
  // Each status event reads the clock; the third is past the restart bound.
  const clock = (): number => (t += STALL_RESTART_MS / 2);
  await watchConsume(messages, log, 'c', clock).done;
  expect(messages.closed).toBe(true);
  expect(lines().map((l) => l.msg)).toEqual([
    'consumer stalled: heartbeats missed; re-pulling',
    'consumer still stalled; restarting it',
  ]);
});

it('logs the resume of a stall the previous iterator left open', async () => {
  const { log, lines } = capture();
  const watch = watchConsume(fakeMessages([]), log, 'c', () => 9_000, 1_000);
  await watch.done;
  expect(watch.stalledSince()).toBe(1_000);
  watch.received();
  expect(watch.stalledSince()).toBeUndefined();
  expect(lines().map((l) => [l.msg, l.stalledMs])).toEqual([['consumer resumed', 8_000]]);
});
