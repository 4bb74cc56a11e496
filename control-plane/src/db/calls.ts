/** SQL for heroku_calls: the durable queue of calls to the Platform API. */
import { currentTraceparent } from '../../../shared/src/tracing/context.js';
import { claimByPages, PAGE_WALK_BEGIN } from './paging.js';
import { prepared, withTransaction, type Pool, type Queryable } from './pool.js';

export const CALL_KINDS = [
  'exchange_grant',
  'config_update',
  'provision_action',
  'deprovision_action',
  'app_log',
] as const;
export type CallKind = (typeof CALL_KINDS)[number];
/** Kinds sent to the Platform API with the add-on's own token (held while it is paused). */
export const TOKEN_CALL_KINDS: readonly CallKind[] = [
  'config_update',
  'provision_action',
  'deprovision_action',
];
/** Kinds that need the add-on's authorization at Heroku: its grant, or its token. */
export const AUTHORIZED_CALL_KINDS: readonly CallKind[] = ['exchange_grant', ...TOKEN_CALL_KINDS];

/**
 * SQL condition on a `resources` row aliased `r`: Heroku has removed the add-on and, with it,
 * our authorization for it (a deprovision we answered with 204, or our own
 * actions/deprovision: Heroku's partner API reference, "Deprovision"). True once the deprovision is applied, once a deprovision was
 * given up (state failed after a deprovision operation), or after our deprovision action for
 * a failed provision. Not while 'deprovisioning': an asynchronous deprovision may still use
 * the Platform API until it sends actions/deprovision.
 */
export const ADDON_GONE_SQL = `(r.state = 'deprovisioned' or (r.state = 'failed' and (
    exists (select 1 from operations o where o.resource_uuid = r.uuid and o.kind = 'deprovision')
    or exists (select 1 from heroku_calls d where d.resource_uuid = r.uuid
                 and d.kind = 'deprovision_action' and d.state = 'succeeded'))))`;

/** Whether Heroku has removed this add-on (ADDON_GONE_SQL); one indexed read. */
export async function isAddonGone(db: Queryable, uuid: string): Promise<boolean> {
  const res = await db.query<{ gone: boolean }>(
    `select ${ADDON_GONE_SQL} as gone from resources r where r.uuid = $1`,
    [uuid],
  );
  return res.rows[0]?.gone ?? false;
}

export const HEROKU_CALLS_CHANNEL = 'heroku_calls';

/**
 * SQL condition on heroku_calls: a pending call, read through heroku_calls_due_walk. The
 * second clause is true of every row; it is in that index's predicate so that only the queries
 * that state it (the claim's walk, the pending count) read that index (migration 018).
 */
export const PENDING_WALK_SQL = `state = 'pending' and next_attempt_at > '-infinity'`;

export interface CallRow {
  id: string;
  resource_uuid: string;
  kind: CallKind;
  dedupe_key: string;
  payload_enc: string | null;
  state: 'pending' | 'succeeded' | 'failed' | 'dropped';
  attempts: number;
  last_status: number | null;
  /** W3C trace context the call was enqueued in: its attempts continue that trace. */
  traceparent: string | null;
}

/** A claimed call, with what sending it needs to know about its add-on (read by the claim). */
export interface ClaimedCall extends CallRow {
  /** Heroku has removed the add-on (ADDON_GONE_SQL). */
  gone: boolean;
  /** Tokens are stored for the add-on (its grant was exchanged). */
  has_tokens: boolean;
  oauth_grant_enc: string | null;
  /** Where the app's log lines go (sealed), for app_log calls. */
  log_input_url_enc: string | null;
  /**
   * The add-on's access token (sealed) and its expiry as the claim read them: a Platform API
   * call sends with it unless it is about to expire, without another read first.
   */
  access_token_enc: string | null;
  token_expires_at: Date | null;
}

/** A call to enqueue: once per (resource, kind, dedupe key). */
export interface NewCall {
  uuid: string;
  kind: CallKind;
  dedupeKey: string;
  payloadEnc?: string | null;
}

/**
 * Enqueue once per (resource, kind, dedupe key); a duplicate enqueue is a no-op. One
 * statement: the insert and the NOTIFY that wakes the call workers at commit.
 */
export async function enqueueCall(db: Queryable, c: NewCall): Promise<void> {
  await enqueueCalls(db, [c]);
}

/**
 * Several calls in one statement (one round trip inside the caller's transaction), queued in
 * the order given: a resource's calls are sent in id order, and the rows of one insert take
 * their ids in the order they are listed. One NOTIFY per add-on.
 */
export async function enqueueCalls(db: Queryable, calls: readonly NewCall[]): Promise<void> {
  if (calls.length === 0) return;
  const traceparent = currentTraceparent();
  await db.query(
    `with ins as (
       insert into heroku_calls (resource_uuid, kind, dedupe_key, payload_enc, traceparent)
       select c.uuid, c.kind, c.dedupe_key, c.payload_enc, $6
         from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[])
           as c(uuid, kind, dedupe_key, payload_enc, n)
        order by c.n
       on conflict (resource_uuid, kind, dedupe_key) do nothing)
     select pg_notify($7, u::text) from (select distinct unnest($1::uuid[]) as u) woken`,
    [
      calls.map((c) => c.uuid),
      calls.map((c) => c.kind),
      calls.map((c) => c.dedupeKey),
      calls.map((c) => c.payloadEnc ?? null),
      calls.map((_c, n) => n),
      traceparent,
      HEROKU_CALLS_CHANNEL,
    ],
  );
}

/**
 * Lease up to `limit` due calls whose earlier calls on the same resource are finished, in one
 * short transaction (a statement per page walked, planned as planPageWalk says): each leased call's next_attempt_at (and leased_until) moves `leaseMs`
 * ahead, so no other worker claims it and no cleanup drops it while its attempt is in flight,
 * and a worker that dies mid-attempt leaves it due again when the lease ends. No row lock is
 * held while Heroku answers. Only kinds this replica knows: during a rolling upgrade a kind
 * added by a newer release waits for a newer replica instead of being marked done unsent.
 * Calls made with an add-on token Heroku rate limited wait out its pause (pauseToken); other
 * add-ons' calls do not. At most one call per add-on is leased at a time (log lines aside):
 * a leased call is still pending, so it holds back the calls queued after it.
 */
export async function claimDueCalls(
  pool: Pool,
  kinds: readonly CallKind[],
  limit: number,
  leaseMs: number,
): Promise<ClaimedCall[]> {
  return withTransaction(
    pool,
    (tx) =>
      claimByPages<ClaimedCall>(
        limit,
        CLAIM_PAGE,
        async (n, after) =>
          (
            await tx.query(CLAIM_PAGE_SQL, [
              kinds,
              TOKEN_CALL_KINDS,
              after?.at ?? new Date(0),
              after?.id ?? '0',
              CLAIM_PAGE,
              n,
              leaseMs,
            ])
          ).rows,
      ),
    PAGE_WALK_BEGIN,
  );
}

/**
 * Extend the leases of calls whose attempts are still in flight (their worker is alive). A
 * call already finished or put back for a retry is left alone, and so is one another statement
 * holds locked right now: that is its finish or its retry, which ends the lease anyway. Waiting
 * for it can hold the renewal up (it took 167 ms mean in one bench run), and a renewal and a
 * batch's finish lock the same calls in their own orders, so they could deadlock: one would be
 * rolled back after deadlock_timeout, and a lost finish leaves its calls leased until their
 * leases end, then sends them again.
 */
export async function renewCallLeases(
  db: Queryable,
  ids: readonly string[],
  leaseMs: number,
): Promise<number> {
  if (ids.length === 0) return 0;
  const res = await db.query(
    `update heroku_calls c
        set next_attempt_at = clock_timestamp() + ($2::int * interval '1 millisecond'),
            leased_until = clock_timestamp() + ($2::int * interval '1 millisecond')
       from (select id from heroku_calls
              where id = any($1::bigint[]) and state = 'pending' and leased_until is not null
              for update skip locked) l
      where c.id = l.id`,
    [ids, leaseMs],
  );
  return res.rowCount ?? 0;
}

/** Due calls examined per claim query. */
const CLAIM_PAGE = 100;

/**
 * SQL condition on a call `c` that may be leased now, besides its place in its add-on's line:
 * still pending and due (repeated on the row a statement locks, so a call another claim
 * leased since its snapshot is skipped), a kind this replica knows (parameter `kinds`), and
 * not made with a token Heroku has paused (`tokenKinds`: TOKEN_CALL_KINDS).
 */
const leasableSql = (kinds: string, tokenKinds: string): string =>
  `c.state = 'pending' and c.next_attempt_at <= now() and c.kind = any(${kinds}::text[])
       and not (c.kind = any(${tokenKinds}::text[]) and exists (
             select 1 from heroku_tokens t where t.resource_uuid = c.resource_uuid
                and t.rate_limited_until > now()))`;

/** What a claim reads about a leasable call's add-on beside `c.id` (ClaimedCall): ADDON_JOINS_SQL's. */
const ADDON_COLUMNS_SQL = `r.oauth_grant_enc, r.log_input_url_enc,
           t.resource_uuid is not null as has_tokens, t.access_token_enc,
           t.expires_at as token_expires_at`;

/** A call `c`'s add-on `r` and its tokens `t` (one read of the tokens' row; none yet: nulls). */
const ADDON_JOINS_SQL = `join resources r on r.uuid = c.resource_uuid
      left join heroku_tokens t on t.resource_uuid = c.resource_uuid`;

/** `leased` moves the `picked` calls' leases `leaseMs` ahead and returns them as ClaimedCall rows. */
const leaseSql = (leaseMs: string): string => `
  leased as (
    update heroku_calls c
       set next_attempt_at = clock_timestamp() + (${leaseMs}::int * interval '1 millisecond'),
           leased_until = clock_timestamp() + (${leaseMs}::int * interval '1 millisecond')
      from picked where c.id = picked.id
    returning c.id, c.resource_uuid, c.kind, c.dedupe_key, c.payload_enc, c.state, c.attempts,
              c.last_status, c.traceparent, picked.gone, picked.oauth_grant_enc, picked.log_input_url_enc,
              picked.has_tokens, picked.access_token_enc, picked.token_expires_at)`;

/**
 * One page of due calls (after $3/$4 in (next_attempt_at, id) order) and the first $6 of them
 * that may be sent: no earlier call of its add-on is pending (log lines aside), and its token
 * is not paused; they are leased for $7 ms. One row per leased call, each with where the page
 * ended (one row with null call columns when none on this page may be sent); no row when
 * nothing is due on or after that point. `picked` repeats the due test on the row it locks:
 * a call another claim leased since this statement's snapshot is no longer due.
 */
const CLAIM_PAGE_SQL = `
  with page as materialized (
    select id, next_attempt_at from heroku_calls
     where ${PENDING_WALK_SQL} and next_attempt_at <= now() and kind = any($1::text[])
       and (next_attempt_at, id) > ($3::timestamptz, $4::bigint)
     order by next_attempt_at, id limit $5),
  picked as (
    select c.id, ${ADDON_GONE_SQL} as gone, ${ADDON_COLUMNS_SQL}
      from heroku_calls c join page using (id) ${ADDON_JOINS_SQL}
     where ${leasableSql('$1', '$2')}
       and (c.kind = 'app_log' or not exists (
             select 1 from heroku_calls p where p.resource_uuid = c.resource_uuid
                and p.id < c.id and p.state = 'pending' and p.kind <> 'app_log'))
     order by c.next_attempt_at, c.id limit $6
     for update of c skip locked),${leaseSql('$7')},
  page_end as (
    select next_attempt_at, id, (select count(*) from page)::int as n
      from page order by next_attempt_at desc, id desc limit 1)
  select leased.*, page_end.n as page_rows, page_end.next_attempt_at as page_end_at,
         page_end.id::text as page_end_id
    from page_end left join leased on true
   order by leased.id`;

export interface DroppedCall {
  id: string;
  resource_uuid: string;
  kind: CallKind;
}

/**
 * Drop the pending calls that need the authorization of an add-on that is gone (of `uuid`, or
 * of every such add-on when null): Heroku would refuse them for ever. A call leased by an
 * attempt in flight is skipped (its worker drops it when the attempt ends), unless it is
 * `ownCallId`, the call the asking worker holds.
 */
export async function dropCallsOfGoneAddons(
  db: Queryable,
  uuid: string | null,
  ownCallId: string | null = null,
): Promise<DroppedCall[]> {
  const res = await db.query<DroppedCall>(
    `update heroku_calls set state = 'dropped', last_error = 'add-on removed by Heroku',
       leased_until = null, completed_at = now(), updated_at = now()
      where id in (select c.id from heroku_calls c join resources r on r.uuid = c.resource_uuid
                    where c.state = 'pending' and c.kind = any($2::text[])
                      and ($1::uuid is null or c.resource_uuid = $1) and ${ADDON_GONE_SQL}
                      and (c.leased_until is null or c.leased_until < now() or c.id = $3)
                    for update of c skip locked)
      returning id, resource_uuid, kind`,
    [uuid, AUTHORIZED_CALL_KINDS, ownCallId],
  );
  return res.rows;
}

export async function finishCall(
  db: Queryable,
  id: string,
  state: 'succeeded' | 'failed',
  status: number | null,
  error: string | null,
): Promise<void> {
  await db.query(
    `update heroku_calls set state = $2, attempts = attempts + 1, last_status = $3, last_error = $4,
       leased_until = null, completed_at = now(), updated_at = now() where id = $1`,
    [id, state, status, error],
  );
}

/** A sent call's finish: whether its add-on is gone now, and the next call leased with it. */
export interface FinishedCall {
  gone: boolean;
  /** The add-on's next call, leased in the same statement when it was due (chained). */
  next?: ClaimedCall;
}

/**
 * Sent calls, in one statement however many: finished, audited, and for each whether its
 * add-on is gone now (a deprovision may have landed while the call was in flight). With
 * `chain` (the kinds this replica knows and the lease), the statement also leases each such
 * add-on's next call when it is due, so the worker sends it at once instead of waiting for
 * its next claim (a provision's config PATCH, then its provision action). Its place in line is
 * the one the finished call leaves: the first pending call of the add-on (log lines aside)
 * other than those finished here. Results in the order of `calls`.
 */
export async function finishSentCalls(
  db: Queryable,
  calls: ReadonlyArray<Pick<CallRow, 'id' | 'resource_uuid' | 'kind' | 'attempts'>>,
  chain?: { kinds: readonly CallKind[]; leaseMs: number },
): Promise<FinishedCall[]> {
  if (calls.length === 0) return [];
  const res = await db.query<{ done_id: string; done_gone: boolean } & Partial<ClaimedCall>>(
    FINISH_SENT_CALLS([
      calls.map((c) => c.id),
      calls.map((c) => c.resource_uuid),
      calls.map((c) => c.kind),
      calls.map((c) => c.attempts),
      chain?.kinds ?? [],
      TOKEN_CALL_KINDS,
      chain?.leaseMs ?? 0,
    ]),
  );
  const byId = new Map<string, FinishedCall>();
  for (const { done_id, done_gone, ...next } of res.rows)
    byId.set(done_id, { gone: done_gone, ...(next.id ? { next: next as ClaimedCall } : {}) });
  return calls.map((c) => byId.get(String(c.id)) ?? { gone: false });
}

/**
 * FINISH_SQL's parameters: $1–$4 the finished calls (id, resource, kind, attempts), $5 the
 * kinds that may be chained (none: no chaining), $6 TOKEN_CALL_KINDS, $7 the lease in ms.
 */
const FINISH_SQL = `
  with done as (
    select * from unnest($1::bigint[], $2::uuid[], $3::text[], $4::int[])
      as d(id, resource_uuid, kind, attempts)),
  f as (
    update heroku_calls c set state = 'succeeded', attempts = c.attempts + 1, last_status = 200,
      last_error = null, leased_until = null, completed_at = now(), updated_at = now()
      from done where c.id = done.id),
  a as (
    insert into audit_events (resource_uuid, actor, action, detail)
    select resource_uuid, 'system', 'heroku_' || kind, jsonb_build_object('attempts', attempts + 1)
      from done),
  g as (
    select done.id, done.resource_uuid, done.kind, ${ADDON_GONE_SQL} as gone
      from done join resources r on r.uuid = done.resource_uuid and r.uuid = any($2::uuid[])),
  head as (
    select distinct (select min(p.id) from heroku_calls p
             where p.resource_uuid = g.resource_uuid and p.state = 'pending'
               and p.kind <> 'app_log' and p.id <> all($1::bigint[])) as id
      from g where not g.gone and g.kind <> 'app_log' and cardinality($5::text[]) > 0),
  picked as (
    select c.id, false as gone, ${ADDON_COLUMNS_SQL}
      from heroku_calls c ${ADDON_JOINS_SQL}
     where c.id = any(array(select id from head where id is not null)) and ${leasableSql('$5', '$6')}
     for update of c skip locked),${leaseSql('$7')}
  select g.id::text as done_id, g.gone as done_gone, leased.*
    from g left join leased on leased.resource_uuid = g.resource_uuid and g.kind <> 'app_log'`;
const FINISH_SENT_CALLS = prepared('finish_sent_calls', FINISH_SQL);

/** Due again `delayMs` from the clock, not the transaction start: Retry-After counts from the answer. */
export async function retryCall(
  db: Queryable,
  id: string,
  delayMs: number,
  status: number | null,
  error: string,
): Promise<void> {
  await db.query(
    `update heroku_calls set attempts = attempts + 1, last_status = $3, last_error = $4,
       leased_until = null, next_attempt_at = clock_timestamp() + ($2::int * interval '1 millisecond'), updated_at = now()
     where id = $1`,
    [id, Math.round(delayMs), status, error],
  );
}

/** A call as an operator sees it: no payload (it may hold secrets). */
export type TroubledCall = Omit<CallRow, 'payload_enc' | 'traceparent'> & {
  last_error: string | null;
  updated_at: Date;
};

/** Calls that failed for good, or keep failing (`minAttempts` or more), newest first. */
export async function listTroubledCalls(
  db: Queryable,
  minAttempts: number,
): Promise<TroubledCall[]> {
  const res = await db.query<TroubledCall>(
    `select id, resource_uuid, kind, dedupe_key, state, attempts, last_status, last_error, updated_at
       from heroku_calls where state = 'failed' or (state = 'pending' and attempts >= $1)
      order by updated_at desc limit 500`,
    [minAttempts],
  );
  return res.rows;
}

export async function listCalls(db: Queryable, uuid: string): Promise<CallRow[]> {
  return (
    await db.query<CallRow>('select * from heroku_calls where resource_uuid = $1 order by id', [
      uuid,
    ])
  ).rows;
}
