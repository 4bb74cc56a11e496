import { claimByPages, type PageCursor, type PagedRows } from './paging.js';

type Item = { id: string };
const end = (n: number, at: number) => ({
  page_rows: n,
  page_end_at: new Date(at),
  page_end_id: String(at),
});

it('claims page after page until the limit, asking each page only for what is left', async () => {
  const asked: Array<[number, PageCursor | undefined]> = [];
  const pages: Array<PagedRows<Item>> = [
    [{ id: null, ...end(2, 1) }], // a full page with nothing claimable
    [{ id: 'a', ...end(2, 2) }], // one of two
    [
      { id: 'b', ...end(2, 3) },
      { id: 'c', ...end(2, 3) },
    ],
  ];
  const claimed = await claimByPages<Item>(3, 2, (n, after) => {
    asked.push([n, after]);
    return Promise.resolve(pages.shift() ?? []);
  });
  expect(claimed).toEqual([{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
  expect(asked.map(([n, after]) => [n, after?.id])).toEqual([
    [3, undefined],
    [3, '1'],
    [2, '2'],
  ]);
});

it('stops at a short page (the end of the queue) or an empty one', async () => {
  let calls = 0;
  const short = await claimByPages<Item>(5, 2, () => {
    calls++;
    return Promise.resolve([{ id: 'a', ...end(1, 1) }]);
  });
  expect([short, calls]).toEqual([[{ id: 'a' }], 1]);
  expect(await claimByPages<Item>(5, 2, () => Promise.resolve([]))).toEqual([]);
});
