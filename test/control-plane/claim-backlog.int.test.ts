/**
 * Claims stay O(batch) under a backlog of 100,000 open operations and 100,000 pending calls,
 * with statistics as stale as they get (nothing analysed since the bulk insert). Measured in
 * buffers the real claim queries touch (EXPLAIN ANALYZE of db/'s own SQL), which does not
 * depend on the machine's speed: a per-candidate scan of the backlog touches millions.
 */
import type pg from 'pg';
import { CALL_KINDS, claimDueCalls } from '../../control-plane/src/db/calls.js';
import { claimDispatchable } from '../../control-plane/src/db/operations.js';
import type { Queryable } from '../../control-plane/src/db/pool.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

const RESOURCES = 1000;
const PER_RESOURCE = 100; // 100,000 open items of each kind

let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.pool(2);
  await pool.query(
    `insert into resources (uuid, name, plan, region_value, heroku_region, agent_region, state)
     select md5('r' || i)::uuid, 'r' || i, 'standard', 'v', 'us', 'us-east', 'provisioned'
       from generate_series(1, $1) i`,
    [RESOURCES],
  );
  // Every resource has a long chain of open operations and pending calls: only the first of
  // each chain may be claimed, so each candidate's predecessor check matters.
  await pool.query(
    `insert into operations (id, resource_uuid, kind, generation, state, plan, created_at)
     select md5('o' || r || '.' || g)::uuid, md5('r' || r)::uuid, 'change_plan', g, 'pending',
            'standard', now() - interval '1 hour' + (g * $1 + r) * interval '1 ms'
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
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

/** Runs a db/ claim function with EXPLAIN ANALYZE in front of its SQL, in a rolled-back transaction. */
async function explain(
  claim: (db: Queryable) => Promise<unknown>,
): Promise<{ plan: PlanNode; rows: number }> {
  const client = await pool.connect();
  let plan: PlanNode | undefined;
  try {
    await client.query('begin');
    const explaining = {
      query: async (sql: string, params: unknown[]) => {
        const res = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
          `explain (analyze, buffers, format json) ${sql}`,
          params,
        );
        plan = res.rows[0]!['QUERY PLAN'][0]!.Plan;
        return { rows: [], rowCount: 0 };
      },
    } as unknown as Queryable;
    await claim(explaining);
  } finally {
    await client.query('rollback');
    client.release();
  }
  return { plan: plan!, rows: 0 };
}

function buffers(node: PlanNode): number {
  return (node['Shared Hit Blocks'] ?? 0) + (node['Shared Read Blocks'] ?? 0);
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
});

it('leases a batch of due calls touching a bounded number of buffers', async () => {
  const { plan } = await explain((q) => claimDueCalls(q, CALL_KINDS, 50, 60_000));
  expect(buffers(plan)).toBeLessThan(5_000);
  expect(seqScans(plan, 'heroku_calls')).toBe(0);
});
