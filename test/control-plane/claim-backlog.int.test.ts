/**
 * Claims stay O(batch) under a backlog of 100,000 open operations and 100,000 pending calls,
 * with the statistics a burst meets: taken while every item was finished, so the planner
 * believes the queues' partial indexes empty (migration 017). Measured in buffers and rows the
 * real claim queries read (EXPLAIN ANALYZE of db/'s own SQL, the transaction's own counters),
 * which do not depend on the machine's speed: a per-candidate scan of the backlog reads
 * millions.
 */
import type pg from 'pg';
import { CALL_KINDS, claimDueCalls, finishSentCalls } from '../../control-plane/src/db/calls.js';
import { queueSnapshot } from '../../control-plane/src/db/metrics.js';
import { claimDispatchable } from '../../control-plane/src/db/operations.js';
import type { Pool, Queryable } from '../../control-plane/src/db/pool.js';
import { regionCounts } from '../../control-plane/src/db/resources.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

const RESOURCES = 1000;
const PER_RESOURCE = 100; // 100,000 open items of each kind (and 100,000 operations in flight)

/** `n` resources keyed md5(prefix || i), i = 1..n. */
async function insertResources(db: Queryable, prefix: string, n: number): Promise<void> {
  await db.query(
    `insert into resources (uuid, name, plan, region_value, heroku_region, agent_region, state)
     select md5($1 || i)::uuid, $1 || i, 'standard', 'v', 'us', 'us-east', 'provisioned'
       from generate_series(1, $2) i`,
    [prefix, n],
  );
}

let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.pool(2);
  await insertResources(pool, 'r', RESOURCES);
  // Statistics taken while every call was finished, as autovacuum leaves them before a burst:
  // the planner expects a handful of pending rows, so collecting all of them (a bitmap scan)
  // and sorting looks as cheap as walking the index to the end of the first page.
  await pool.query(
    `insert into heroku_calls (resource_uuid, kind, dedupe_key, state, next_attempt_at)
     select md5('r' || r)::uuid, 'config_update', 'done-' || g, 'succeeded', now() - interval '3 hours'
       from generate_series(1, $1) r, generate_series(1, 20) g`,
    [RESOURCES],
  );
  await pool.query(
    `insert into operations (id, resource_uuid, kind, generation, state, plan, created_at)
     select md5('s' || r || '.' || g)::uuid, md5('r' || r)::uuid, 'change_plan', g - 20, 'succeeded',
            'standard', now() - interval '3 hours'
       from generate_series(1, $1) r, generate_series(1, 20) g`,
    [RESOURCES],
  );
  await pool.query('analyze');
  // Every resource has a long chain of open operations and pending calls: only the first of
  // each chain may be claimed, so each candidate's predecessor check matters.
  await pool.query(
    `insert into operations (id, resource_uuid, kind, generation, state, plan, created_at)
     select md5('o' || r || '.' || g)::uuid, md5('r' || r)::uuid, 'change_plan', g, 'pending',
            'standard', now() - interval '1 hour' + (g * $1 + r) * interval '1 ms'
       from generate_series(1, $1) r, generate_series(1, $2) g`,
    [RESOURCES, PER_RESOURCE],
  );
  // 100,000 operations in flight on other resources (dispatched, deadline ahead: a region's
  // agents are slow), all older than the pending chains: the claim must not step over them.
  await insertResources(pool, 'f', RESOURCES);
  await pool.query(
    `insert into operations (id, resource_uuid, kind, generation, state, plan, created_at, deadline)
     select md5('d' || r || '.' || g)::uuid, md5('f' || r)::uuid, 'change_plan', g, 'dispatched',
            'standard', now() - interval '2 hours' + (g * $1 + r) * interval '1 ms',
            now() + interval '1 hour'
       from generate_series(1, $1) r, generate_series(1, $2) g`,
    [RESOURCES, PER_RESOURCE],
  );
  await pool.query(
    `insert into heroku_calls (resource_uuid, kind, dedupe_key, next_attempt_at)
     select md5('r' || r)::uuid, 'config_update', 'gen-' || g,
            now() - interval '1 hour' + (g * $1 + r) * interval '1 ms'
       from generate_series(1, $2) g, generate_series(1, $1) r`,
    [RESOURCES, PER_RESOURCE],
  );
}, 120_000);
afterAll(async () => {
  await pool.end();
  await db.drop();
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

/**
 * Runs a db/ claim function with EXPLAIN ANALYZE in front of its SQL, in a rolled-back
 * transaction (`plan` the last statement's, `plans` all). It is handed a client that is also a pool of itself, for the claims that open
 * their own transaction (theirs folds into this one); planner settings pass through.
 */
async function explain(
  claim: (db: Queryable & Pool) => Promise<unknown>,
): Promise<{ plan: PlanNode; plans: PlanNode[] }> {
  const client = await pool.connect();
  const plans: PlanNode[] = [];
  try {
    await client.query('begin');
    const explaining = {
      connect: async () => explaining,
      release: () => undefined,
      query: async (q: string | { text: string; values: unknown[] }, values: unknown[] = []) => {
        const [sql, params] = typeof q === 'string' ? [q, values] : [q.text, q.values];
        if (/^(begin|commit|rollback)$/.test(sql)) return { rows: [], rowCount: 0 };
        // Settings, alone or with a BEGIN (PAGE_WALK_BEGIN): applied to the explained transaction.
        if (sql.startsWith('begin; ')) return client.query(sql.slice('begin; '.length));
        if (/^(set local|select set_config\()/.test(sql)) return client.query(sql, params);
        const res = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
          `explain (analyze, buffers, format json) ${sql}`,
          params,
        );
        plans.push(res.rows[0]!['QUERY PLAN'][0]!.Plan);
        return { rows: [], rowCount: 0 };
      },
    } as unknown as Queryable & Pool;
    await claim(explaining);
  } finally {
    await client.query('rollback');
    client.release();
  }
  return { plan: plans[plans.length - 1]!, plans };
}

function buffers(node: PlanNode): number {
  return (node['Shared Hit Blocks'] ?? 0) + (node['Shared Read Blocks'] ?? 0);
}

/** The nodes reading `index`. */
function scansOf(node: PlanNode, index: string): PlanNode[] {
  const own = node['Index Name'] === index ? [node] : [];
  return [...own, ...(node.Plans ?? []).flatMap((p) => scansOf(p, index))];
}

/**
 * `index` is read in its order, a page of it (at most `page` rows), not collected whole (a
 * bitmap scan) and sorted.
 */
function expectPageWalk(plan: PlanNode, index: string, page: number): void {
  const walks = scansOf(plan, index);
  expect(walks.length).toBeGreaterThan(0);
  for (const node of walks) {
    expect(['Index Scan', 'Index Only Scan']).toContain(node['Node Type']);
    expect(node['Actual Rows']).toBeLessThanOrEqual(page);
  }
}

/** Rows this transaction has read from every table (sequential scans) and index of the schema. */
async function rowsRead(client: Queryable): Promise<number> {
  const res = await client.query<{ n: string }>(
    `select sum(pg_stat_get_xact_tuples_returned(oid))::bigint as n from pg_class
      where relnamespace = 'public'::regnamespace`,
  );
  return Number(res.rows[0]!.n);
}

function seqScans(node: PlanNode, relation: string): number {
  const own = node['Node Type'] === 'Seq Scan' && node['Relation Name'] === relation ? 1 : 0;
  return own + (node.Plans ?? []).reduce((n, p) => n + seqScans(p, relation), 0);
}

it('claims a batch of operations touching a bounded number of buffers', async () => {
  const { plan } = await explain((q) => claimDispatchable(q, 100));
  // A scan of the backlog per candidate would touch ~100 × the table (≈ 1,000 pages) blocks.
  expect(buffers(plan)).toBeLessThan(20_000);
  expect(seqScans(plan, 'operations')).toBe(0);
  // One page of the pending walk, read in index order (not every pending one, sorted).
  expectPageWalk(plan, 'operations_pending', 200);
});

it('leases a batch of due calls touching a bounded number of buffers', async () => {
  const { plan } = await explain((q) => claimDueCalls(q, CALL_KINDS, 50, 60_000));
  expect(buffers(plan)).toBeLessThan(5_000);
  expect(seqScans(plan, 'heroku_calls')).toBe(0);
  // The page is read by walking the due-order index, one page of it, not by collecting every
  // due call (a bitmap scan) and sorting them.
  expectPageWalk(plan, 'heroku_calls_due_walk', 100);
});

it("finishes a batch of sent calls, leasing each add-on's next, touching a bounded number of buffers", async () => {
  // The first call of 50 add-ons, as a claim leased them; each has 99 more queued behind it.
  const { rows } = await pool.query<{ id: string; resource_uuid: string }>(
    `select distinct on (resource_uuid) id::text, resource_uuid from heroku_calls
      where state = 'pending' order by resource_uuid, id limit 50`,
  );
  const sent = rows.map((r) => ({ ...r, kind: 'config_update' as const, attempts: 0 }));
  const { plan } = await explain((q) =>
    finishSentCalls(q, sent, { kinds: CALL_KINDS, leaseMs: 60_000 }),
  );
  expect(buffers(plan)).toBeLessThan(5_000);
  expect(seqScans(plan, 'heroku_calls')).toBe(0);
  // And it does lease them: 50 finished, 50 chained.
  const client = await pool.connect();
  try {
    await client.query('begin');
    const finished = await finishSentCalls(client, sent, { kinds: CALL_KINDS, leaseMs: 60_000 });
    expect(finished.filter((f) => f.next?.kind === 'config_update')).toHaveLength(50);
    expect(new Set(finished.map((f) => f.next?.resource_uuid)).size).toBe(50);
  } finally {
    await client.query('rollback');
    client.release();
  }
});

it('pages past pending operations queued behind one in flight to the ones that may go', async () => {
  const client = await pool.connect();
  try {
    await client.query('begin');
    // 500 resources whose oldest pending operation waits on one in flight: the first pages
    // of the pending walk hold nothing the dispatcher may send.
    await insertResources(client, 'b', 500);
    await client.query(
      `insert into operations (id, resource_uuid, kind, generation, state, plan, created_at, deadline)
       select md5('bo' || i || '.' || g)::uuid, md5('b' || i)::uuid, 'change_plan', g,
              case g when 1 then 'dispatched' else 'pending' end, 'standard',
              now() - interval '3 hours' + (g * 500 + i) * interval '1 ms', now() + interval '1 hour'
         from generate_series(1, 500) i, generate_series(1, 2) g`,
    );
    const before = await rowsRead(client);
    const claimed = await claimDispatchable(client, 10);
    // Each page's rows are read, not the rest of the backlog after each blocked page.
    expect((await rowsRead(client)) - before).toBeLessThan(20_000);
    expect(claimed).toHaveLength(10);
    for (const op of claimed)
      expect({ gen: op.generation, state: op.state }).toEqual({ gen: 1, state: 'pending' });
  } finally {
    await client.query('rollback');
    client.release();
  }
});

it('counts open operations and pending calls at scrape time reading open rows only', async () => {
  const { plans } = await explain(async (q) => {
    await queueSnapshot(q);
    await regionCounts(q);
  });
  expect(plans).toHaveLength(3);
  for (const plan of plans) {
    expect(seqScans(plan, 'operations')).toBe(0);
    expect(seqScans(plan, 'heroku_calls')).toBe(0);
  }
});
