/** SQL for operations: the outbox. */
import { OperationKindSchema, type OperationKind } from '../../../shared/src/messages.js';
import { currentTraceparent } from '../../../shared/src/tracing/context.js';
import { claimByPages, PAGE_WALK_BEGIN, planPageWalk } from './paging.js';
import { withTransaction, type Pool, type PoolClient, type Queryable } from './pool.js';
import type { ResourceRow } from './resources.js';

export type OperationState = 'pending' | 'dispatched' | 'succeeded' | 'failed';

export interface OperationRow {
  id: string;
  resource_uuid: string;
  kind: OperationKind;
  generation: number;
  state: OperationState;
  plan: string;
  params: Record<string, unknown>;
  attempts: number;
  dispatched_at: Date | null;
  deadline: Date | null;
  last_error: { code: string; message: string } | null;
  progress: string | null;
  completed_at: Date | null;
  /** A scheduled operation (the revocation after a rotation) is not run before this. */
  not_before: Date | null;
  answer_async: boolean;
  /** W3C trace context the operation was created in (null: untraced). */
  traceparent: string | null;
  created_at: Date;
}

export const OUTBOX_CHANNEL = 'outbox';
export const OPERATION_DONE_CHANNEL = 'operation_done';

export async function insertOperation(
  db: Queryable,
  op: {
    id: string;
    uuid: string;
    kind: OperationKind;
    generation: number;
    plan: string;
    params?: Record<string, unknown>;
    notBefore?: Date;
    answerAsync?: boolean;
  },
): Promise<void> {
  await db.query(
    `insert into operations (id, resource_uuid, kind, generation, state, plan, params, not_before, answer_async, traceparent)
     values ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9)`,
    [
      op.id,
      op.uuid,
      op.kind,
      op.generation,
      op.plan,
      JSON.stringify(op.params ?? {}),
      op.notBefore ?? null,
      op.answerAsync ?? false,
      currentTraceparent(),
    ],
  );
  await db.query('select pg_notify($1, $2)', [OUTBOX_CHANNEL, op.id]);
}

export async function getOperation(
  db: Queryable,
  id: string,
  forUpdate = false,
): Promise<OperationRow | undefined> {
  const sql = `select * from operations where id = $1${forUpdate ? ' for update' : ''}`;
  return (await db.query<OperationRow>(sql, [id])).rows[0];
}

export async function latestOperation(
  db: Queryable,
  uuid: string,
  kind?: OperationKind,
): Promise<OperationRow | undefined> {
  const res = await db.query<OperationRow>(
    `select * from operations where resource_uuid = $1 and ($2::text is null or kind = $2) order by generation desc limit 1`,
    [uuid, kind ?? null],
  );
  return res.rows[0];
}

export async function openOperations(db: Queryable, uuid: string): Promise<OperationRow[]> {
  const res = await db.query<OperationRow>(
    `select * from operations where resource_uuid = $1 and state in ('pending', 'dispatched') order by generation`,
    [uuid],
  );
  return res.rows;
}

export async function listOperations(db: Queryable, uuid: string): Promise<OperationRow[]> {
  return (
    await db.query<OperationRow>(
      'select * from operations where resource_uuid = $1 order by generation',
      [uuid],
    )
  ).rows;
}

const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * SQL condition: operation `o` is open. Written as an OR, not `in`, for the readers of every
 * open operation (counts): each arm is served by its partial index (operations_pending,
 * operations_dispatched_deadline), so they read open rows only (migration 017).
 */
export const openOperationSql = (o: string): string =>
  `(${o}.state = 'pending' or ${o}.state = 'dispatched')`;

/** No earlier operation of the same resource is open and due (the claim's predecessor check). */
const NO_OPEN_PREDECESSOR = `not exists (
  select 1 from operations p where p.resource_uuid = o.resource_uuid and p.generation < o.generation
     and p.state in ('pending', 'dispatched') and (p.not_before is null or p.not_before <= now()))`;

/** Pending operations examined per claim query. */
const DISPATCH_PAGE = 200;

/**
 * One page of pending operations (after $2/$3 in (created_at, id) order, on the partial index
 * operations_pending) and the first $1 of them that may be dispatched, with, on the first page
 * only ($5), the dispatched ones past their deadline (operations_dispatched_deadline). Both are
 * plain ordered index walks whatever the statistics (planPageWalk): one walk of every open
 * operation by created_at stepped over each operation in flight (thousands while a region's
 * agents are slow) on every claim, 35 ms each in the bench. The candidates are read within the
 * page's bounds: the planner may read them off the index rather than look up the page's rows,
 * and unbounded that walk ran to the end of the backlog (4 s per page of blocked operations,
 * with 100,000 pending). Rows carry where the page ended; one row with a null id when none on
 * this page may be dispatched; no row when nothing is pending after it.
 */
const CLAIM_DISPATCH_SQL = `
  with page as materialized (
    select id, created_at from operations
     where state = 'pending' and (created_at, id) > ($2::timestamptz, $3::uuid)
     order by created_at, id limit $4),
  pending as (
    select o.id from operations o join page using (id)
     where o.state = 'pending' and (o.created_at, o.id) > ($2::timestamptz, $3::uuid)
       and o.created_at <= (select max(created_at) from page)
       and (o.not_before is null or o.not_before <= now())
       and o.kind = any($6::text[]) and ${NO_OPEN_PREDECESSOR}
     order by o.created_at, o.id limit $1 for update of o skip locked),
  overdue as (
    select o.id from operations o
     where $5 and o.state = 'dispatched' and o.deadline < now() and o.kind = any($6::text[])
       and ${NO_OPEN_PREDECESSOR}
     order by o.deadline limit $1 for update of o skip locked),
  claimed as (
    select o.*, to_jsonb(r) as r
      from (select id from pending union all select id from overdue) c
      join operations o on o.id = c.id join resources r on r.uuid = o.resource_uuid
     order by o.created_at limit $1),
  page_end as (
    select created_at, id, (select count(*) from page)::int as n
      from page order by created_at desc, id desc limit 1)
  select claimed.*, coalesce(page_end.n, 0) as page_rows, page_end.created_at as page_end_at,
         page_end.id as page_end_id
    from (select 1) one left join page_end on true left join claimed on true
   where claimed.id is not null or page_end.id is not null`;

/**
 * Lock a batch of operations ready to (re)dispatch: pending ones whose predecessors on the
 * same resource are finished (operations queue behind each other), and dispatched ones whose
 * deadline passed. SKIP LOCKED keeps replicas from dispatching the same row twice. Pages on
 * past pending operations that may not go yet (queued behind one in flight, scheduled) until
 * `limit` are claimed or the queue ends. Only operations of `kinds` (this release's) are
 * claimed: a newer release's kind, during a rolling upgrade, is left to its replicas (and
 * still holds back the operations queued behind it on its resource). `tx` is a client in a
 * transaction: the rows stay locked until it ends, and the walk's planner settings with them.
 */
export async function claimDispatchable(
  tx: Queryable,
  limit: number,
  kinds: readonly string[] = OperationKindSchema.options,
): Promise<DispatchableRow[]> {
  await planPageWalk(tx);
  return claimPages(tx, limit, kinds);
}

/** A claimed operation with its resource row. */
export type DispatchableRow = OperationRow & { r: ResourceRow };

/**
 * claimDispatchable in a transaction of its own, which `fn` goes on in (publish, mark
 * dispatched) with the rows locked: the walk's planner settings come with its BEGIN.
 */
export function withDispatchable<T>(
  pool: Pool,
  limit: number,
  fn: (tx: PoolClient, ops: DispatchableRow[]) => Promise<T>,
): Promise<T> {
  return withTransaction(
    pool,
    async (tx) => fn(tx, await claimPages(tx, limit, OperationKindSchema.options)),
    PAGE_WALK_BEGIN,
  );
}

function claimPages(
  tx: Queryable,
  limit: number,
  kinds: readonly string[],
): Promise<DispatchableRow[]> {
  return claimByPages<DispatchableRow>(
    limit,
    DISPATCH_PAGE,
    async (n, after) =>
      (
        await tx.query(CLAIM_DISPATCH_SQL, [
          n,
          after?.at ?? new Date(0),
          after?.id ?? NIL_UUID,
          DISPATCH_PAGE,
          after === undefined,
          kinds,
        ])
      ).rows,
  );
}

export async function markDispatched(
  db: Queryable,
  ids: string[],
  timeoutMs: number,
): Promise<void> {
  await db.query(
    `update operations set state = 'dispatched', attempts = attempts + 1, dispatched_at = now(),
       deadline = now() + ($2::int * interval '1 millisecond'), updated_at = now() where id = any($1::uuid[])`,
    [ids, timeoutMs],
  );
}

/** Fail an open operation; the failed row, or undefined when it had already finished. */
export async function failOperation(
  db: Queryable,
  id: string,
  error: { code: string; message: string },
): Promise<OperationRow | undefined> {
  return completeOperation(db, id, 'failed', error);
}

/** Finish an open operation; the finished row, or undefined when it had already finished. */
export async function completeOperation(
  db: Queryable,
  id: string,
  state: 'succeeded' | 'failed',
  error: { code: string; message: string } | null,
): Promise<OperationRow | undefined> {
  // The NOTIFY (for the requests waiting on it, at commit) in the same statement, when it finished.
  const res = await db.query<OperationRow>(
    `with done as (
       update operations set state = $2, last_error = $3, completed_at = now(), updated_at = now()
        where id = $1 and state in ('pending', 'dispatched') returning *)
     select done.* from done cross join lateral pg_notify($4, done.id::text)`,
    [id, state, error ? JSON.stringify(error) : null, OPERATION_DONE_CHANNEL],
  );
  return res.rows[0];
}

/** What a result must agree with about its operation before it counts (result-trust.ts). */
export interface ResultClaims {
  uuid: string;
  region: string;
  kind: string;
  generation: number;
}

/**
 * Records the step when the operation is dispatched and is the one the result says it is
 * about: its resource, that resource's region, its kind and its generation (the checks of
 * result-trust.ts checkAgainstState, in the same statement). False when it changed nothing:
 * the caller reads the rows to say why (a refusal), or finds a step that came late.
 */
export async function recordProgressIfClaimed(
  db: Queryable,
  id: string,
  step: string,
  claims: ResultClaims,
): Promise<boolean> {
  const res = await db.query(
    `update operations o set progress = $2, updated_at = now()
       from resources r
      where o.id = $1 and o.state = 'dispatched' and r.uuid = o.resource_uuid
        and o.resource_uuid = $3 and r.agent_region = $4 and o.kind = $5 and o.generation = $6`,
    [id, step, claims.uuid, claims.region, claims.kind, claims.generation],
  );
  return res.rowCount === 1;
}

/** Put an unfinished operation back in the outbox, to be dispatched again after a delay. */
export async function rescheduleOperation(
  db: Queryable,
  id: string,
  error: { code: string; message: string },
  delayMs: number,
): Promise<boolean> {
  const res = await db.query(
    `update operations set state = 'pending', last_error = $2, progress = null, deadline = null,
       not_before = now() + ($3::int * interval '1 millisecond'), updated_at = now()
      where id = $1 and state in ('pending', 'dispatched')`,
    [id, JSON.stringify(error), delayMs],
  );
  return res.rowCount === 1;
}

/** Heroku got (or is about to get) a 202 for this operation: its completion is owed. */
export async function flagAnswerAsync(
  db: Queryable,
  operationId: string,
): Promise<OperationRow | undefined> {
  const res = await db.query<OperationRow>(
    `update operations set answer_async = true, updated_at = now() where id = $1 returning *`,
    [operationId],
  );
  return res.rows[0];
}

/** Open operations past their deadline (or pending) for longer than `olderThanS`. */
export async function listStuckOperations(
  db: Queryable,
  olderThanS: number,
): Promise<OperationRow[]> {
  const res = await db.query<OperationRow>(
    `select * from operations
      where (state = 'dispatched' and deadline < now() - ($1::int * interval '1 second'))
         or (state = 'pending' and coalesce(not_before, created_at) < now() - ($1::int * interval '1 second'))
      order by created_at limit 500`,
    [olderThanS],
  );
  return res.rows;
}

/**
 * Open again, due now: an open operation is dispatched on the next pass (a new attempt, its
 * own message id), a failed deprovision is tried again. Whether that is allowed is the
 * caller's decision (ops/usecases/operator.ts).
 */
export async function reopenOperation(db: Queryable, id: string): Promise<void> {
  await db.query(
    `update operations set state = 'pending', not_before = null, deadline = null, progress = null,
       completed_at = null, updated_at = now() where id = $1`,
    [id],
  );
  await db.query('select pg_notify($1, $2)', [OUTBOX_CHANNEL, id]);
}
