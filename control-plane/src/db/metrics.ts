/**
 * SQL behind the gauges read at scrape time (metrics/scrape-gauges.ts). Each query reads only
 * open rows through partial indexes (operations_pending, operations_dispatched_deadline,
 * heroku_calls_due_walk), so its cost follows the backlog, not the history; a statement
 * timeout bounds it anyway.
 */
import { PENDING_WALK_SQL } from './calls.js';
import { openOperationSql } from './operations.js';
import { withTransaction, type Pool } from './pool.js';

export interface OpenOperations {
  kind: string;
  /** pending, scheduled (pending, not due yet) or dispatched. */
  state: string;
  open: number;
  /** Age of the oldest due one (s); null when every one is scheduled for later. */
  oldest_age_s: number | null;
}

export interface QueueSnapshot {
  operations: OpenOperations[];
  herokuCallsPending: number;
}

const OPEN_OPERATIONS = `
  select kind,
         case when state = 'pending' and not_before > now() then 'scheduled' else state end as state,
         count(*)::int as open,
         extract(epoch from now() - min(coalesce(not_before, created_at))
           filter (where not_before is null or not_before <= now()))::float8 as oldest_age_s
    from operations
   where ${openOperationSql('operations')}
   group by 1, 2`;

/** Open operations by kind and state, and the Heroku calls still to be sent. */
export async function queueSnapshot(pool: Pool, timeoutMs = 2000): Promise<QueueSnapshot> {
  return withTransaction(pool, async (client) => {
    await client.query(`select set_config('statement_timeout', $1, true)`, [`${timeoutMs}ms`]);
    const operations = (await client.query<OpenOperations>(OPEN_OPERATIONS)).rows;
    const calls = await client.query<{ n: number }>(
      `select count(*)::int as n from heroku_calls where ${PENDING_WALK_SQL}`,
    );
    return { operations, herokuCallsPending: calls.rows[0]?.n ?? 0 };
  });
}
