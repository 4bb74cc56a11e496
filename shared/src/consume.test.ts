import { Writable } from 'node:stream';
import { ConsumerEvents, type ConsumerMessages, type ConsumerStatus } from 'nats';
import {
  PROBE_RESTART_AFTER,
  STALL_RESTART_MS,
  watchConsume,
  type ConsumerStanding,
} from './consume.js';
import { createLogger } from './logger.js';

/**
 * A consume() iterator whose status events the test pushes; with `open`, its status stream
 * stays open until close() (as nats.js's does).
 */
function fakeMessages(
  events: ConsumerStatus[],
  open = false,
): ConsumerMessages & { closed: boolean } {
  let ended: () => void = () => undefined;
  const end = new Promise<void>((r) => (ended = r));
  const fake = {
    closed: false,
    status: () =>
      Promise.resolve(
        (async function* () {
          for (const e of events) {
            await new Promise((r) => setImmediate(r));
            yield e;
          }
          if (open) await end;
        })(),
      ),
    close: () => {
      fake.closed = true;
      ended();
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
  const watch = watchConsume(fakeMessages([missed, missed, missed]), log, 'c', { now: () => t });
  await watch.done;
  t = 4_500;
  watch.received();
  watch.received();
  expect(lines().map((l) => [l.msg, l.stalledMs])).toEqual([
    ['consumer stalled', undefined],
    ['consumer resumed', 3_500],
  ]);
});

it('closes the iterator when its consumer is gone, so the loop makes it again', async () => {
  const { log, lines } = capture();
  const gone = { type: ConsumerEvents.ConsumerNotFound, data: 1 };
  const messages = fakeMessages([gone, { type: ConsumerEvents.HeartbeatsMissed, data: 2 }]);
  await watchConsume(messages, log, 'c').done;
  expect(messages.closed).toBe(true);
  expect(lines().map((l) => [l.msg, l.why])).toEqual([
    ['consumer restarting', 'lost: consumer_not_found'],
  ]);
});

it('restarts the iterator when heartbeats stay missing past STALL_RESTART_MS', async () => {
  const { log, lines } = capture();
  let t = 0;
  const missed = { type: ConsumerEvents.HeartbeatsMissed, data: 2 };
  const messages = fakeMessages([missed, missed, missed, missed]);
  // Each status event reads the clock; the third is past the restart bound.
  const clock = (): number => (t += STALL_RESTART_MS / 2);
  await watchConsume(messages, log, 'c', { now: clock }).done;
  expect(messages.closed).toBe(true);
  expect(lines().map((l) => [l.msg, l.reason ?? l.why])).toEqual([
    ['consumer stalled', 'heartbeats missed'],
    ['consumer restarting', 'heartbeats still missing'],
  ]);
});

it('logs the resume of a stall the previous iterator left open', async () => {
  const { log, lines } = capture();
  const watch = watchConsume(fakeMessages([]), log, 'c', {
    now: () => 9_000,
    stalledBefore: 1_000,
  });
  await watch.done;
  expect(watch.stalledSince()).toBe(1_000);
  watch.received();
  expect(watch.stalledSince()).toBeUndefined();
  expect(lines().map((l) => [l.msg, l.stalledMs])).toEqual([['consumer resumed', 8_000]]);
});

const sound: ConsumerStanding = { pending: 0, waiting: 1, atAckLimit: false };

it('probes an idle consumer: a lost pull is a stall, restarted after PROBE_RESTART_AFTER probes', async () => {
  const { log, lines } = capture();
  const messages = fakeMessages([], true);
  let probes = 0;
  const probe = (): Promise<ConsumerStanding> => {
    probes++;
    return Promise.resolve({ ...sound, waiting: 0 });
  };
  await watchConsume(messages, log, 'c', { probe, probeEveryMs: 5 }).done;
  expect(messages.closed).toBe(true);
  expect(probes).toBe(PROBE_RESTART_AFTER);
  expect(lines().map((l) => [l.msg, l.reason ?? l.why])).toEqual([
    ['consumer stalled', 'no pull request held by the server'],
    ['consumer restarting', 'no pull request held by the server'],
  ]);
});

it('logs the end of a stall when a probe finds the idle consumer sound again', async () => {
  const { log, lines } = capture();
  const missed = { type: ConsumerEvents.HeartbeatsMissed, data: 2 };
  const messages = fakeMessages([missed], true);
  const standings: (ConsumerStanding | Error)[] = [
    new Error('timeout'),
    { ...sound, pending: 3 },
    sound,
  ];
  const probe = (): Promise<ConsumerStanding> => {
    const next = standings.shift() ?? sound;
    return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
  };
  const watch = watchConsume(messages, log, 'c', { probe, probeEveryMs: 5 });
  while (!lines().some((l) => l.msg === 'consumer resumed'))
    await new Promise((r) => setTimeout(r, 5));
  await messages.close();
  await watch.done;
  expect(lines().map((l) => [l.msg, l.reason ?? l.via])).toEqual([
    ['consumer stalled', 'heartbeats missed'],
    ['consumer resumed', 'probe'],
  ]);
});

it('does not probe while the loop waits on its own handlers, nor fault a consumer at its ack limit', async () => {
  const { log, lines } = capture();
  const messages = fakeMessages([], true);
  let probes = 0;
  const probe = (): Promise<ConsumerStanding> => {
    probes++;
    return Promise.resolve({ pending: 50, waiting: 1, atAckLimit: true });
  };
  const watch = watchConsume(messages, log, 'c', { probe, probeEveryMs: 5 });
  await watch.busy(new Promise((r) => setTimeout(r, 40)));
  expect(probes).toBe(0);
  await new Promise((r) => setTimeout(r, 40));
  expect(probes).toBeGreaterThan(0);
  await messages.close();
  await watch.done;
  expect(lines()).toEqual([]);
});
