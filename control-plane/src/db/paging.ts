/**
 * The claim queries' walk through a queue a page at a time (operations by created_at, calls
 * by next_attempt_at): each statement reads one page of the queue in index order and locks
 * what on it may go, so its cost is one index range plus one predecessor probe per row,
 * whatever the backlog and however stale the statistics.
 */

import type { Queryable } from './pool.js';

/**
 * Planner settings for the page walks, for the rest of the caller's transaction. Statistics on
 * a queue are usually taken when it is nearly empty (autovacuum's last look before a burst),
 * and the planner then believes its partial index holds no rows (migration 017): collecting
 * every open row with a bitmap scan and sorting them looks as cheap as walking the index to
 * the end of one page. With a backlog it is not: each call claim sorted the whole backlog
 * (4.2 ms per claim in the bench; 1.0 ms walking). Without bitmap scans the ordered walk is
 * the cheapest plan left.
 */
export async function planPageWalk(tx: Queryable): Promise<void> {
  await tx.query(PAGE_WALK_SETTINGS);
}

const PAGE_WALK_SETTINGS = 'set local enable_bitmapscan = off';

/** planPageWalk's settings in the transaction's BEGIN (withTransaction's `begin`): no round trip of their own. */
export const PAGE_WALK_BEGIN = `begin; ${PAGE_WALK_SETTINGS}`;

/** Where a page ended: the next page starts after it. */
export interface PageCursor {
  at: Date;
  id: string;
}

/**
 * A claim statement's rows: one per claimed item, each with where the page ended and how many
 * rows it held; one row with a null id when nothing on the page could be claimed; no row when
 * the queue holds nothing after the cursor.
 */
export type PagedRows<T> = Array<
  Omit<T, 'id'> & { id: string | null; page_rows: number; page_end_at: Date; page_end_id: string }
>;

/**
 * Claims up to `limit` items, page after page, until enough are claimed or a page comes back
 * short (the end of the queue). `page` runs one statement for the page after `after` (none:
 * the first), claiming at most `remaining`.
 */
export async function claimByPages<T extends { id: string }>(
  limit: number,
  pageSize: number,
  page: (remaining: number, after: PageCursor | undefined) => Promise<PagedRows<T>>,
): Promise<T[]> {
  const claimed: T[] = [];
  let after: PageCursor | undefined;
  while (claimed.length < limit) {
    const rows = await page(limit - claimed.length, after);
    for (const { page_rows: _n, page_end_at: _a, page_end_id: _i, ...row } of rows)
      if (row.id !== null) claimed.push(row as unknown as T);
    const end = rows[0];
    if (!end || end.page_rows < pageSize) break;
    after = { at: end.page_end_at, id: end.page_end_id };
  }
  return claimed;
}
