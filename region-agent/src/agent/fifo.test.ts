import { createKeyedQueue } from './fifo.js';

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('createKeyedQueue', () => {
  it('never runs two operations on one key at once, keeps order, and runs other keys in parallel', async () => {
    const queue = createKeyedQueue();
    const events: string[] = [];
    let running = 0;
    let maxRunningA = 0;
    const op = (key: string, name: string, ms: number) => async (): Promise<string> => {
      if (key === 'a') maxRunningA = Math.max(maxRunningA, ++running);
      events.push(`start ${name}`);
      await tick(ms);
      events.push(`end ${name}`);
      if (key === 'a') running--;
      return name;
    };
    const all = Promise.all([
      queue.run('a', op('a', 'a1', 30)),
      queue.run('a', op('a', 'a2', 5)),
      queue.run('b', op('b', 'b1', 5)),
    ]);
    expect(queue.size).toBe(3);
    expect(await all).toEqual(['a1', 'a2', 'b1']);
    expect(maxRunningA).toBe(1);
    expect(events.indexOf('end a1')).toBeLessThan(events.indexOf('start a2'));
    expect(events.indexOf('end b1')).toBeLessThan(events.indexOf('end a1'));
    await queue.idle();
    expect(queue.size).toBe(0);
  });

  it('keeps going after a failure', async () => {
    const queue = createKeyedQueue();
    await expect(queue.run('a', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(queue.run('a', () => Promise.resolve(2))).resolves.toBe(2);
  });
});
