import { createBatcher } from './batcher.js';

it('writes the first item at once and folds the ones that arrive meanwhile into one write', async () => {
  const writes: number[][] = [];
  let release: () => void = () => {};
  const b = createBatcher<number, number>(async (items) => {
    writes.push(items);
    if (writes.length === 1) await new Promise<void>((r) => (release = r));
    return items.map((n) => n * 10);
  });
  const first = b.add(1);
  const rest = [b.add(2), b.add(3), b.add(4)];
  await Promise.resolve();
  expect(writes).toEqual([[1]]);
  release();
  expect(await first).toBe(10);
  expect(await Promise.all(rest)).toEqual([20, 30, 40]);
  expect(writes).toEqual([[1], [2, 3, 4]]);
});

it('splits at maxBatch and fails only the items of a write that failed', async () => {
  const b = createBatcher<number, number>(async (items) => {
    if (items.includes(3)) throw new Error('boom');
    return items;
  }, 2);
  const results = await Promise.allSettled([1, 2, 3, 4, 5].map((n) => b.add(n)));
  expect(results.map((r) => r.status)).toEqual([
    'fulfilled',
    'rejected',
    'rejected',
    'fulfilled',
    'fulfilled',
  ]);
  await b.drain();
});
