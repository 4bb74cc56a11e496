/**
 * Two checks of the plain path beyond the alternating rounds (bench/acceptance.ts):
 * - latency at scale: a short round with the resources the warm-up left (a few thousand), and
 *   one after seeding the database to at least 100,000 provisioned resources (each with its
 *   finished provision operation and its four sent Heroku calls), then VACUUM (ANALYZE), as a
 *   partner's database after months of use would be;
 * - no backlog: a 20 s round at full load, then at most 60 s until nothing is pending.
 */
import pg from 'pg';
import { round } from './load.js';

export interface ShortRound {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  drainS: number;
  sustainedRps: number;
}

export interface ScaleReport {
  small: ShortRound & { resources: number };
  large: ShortRound & { resources: number };
  /** large ÷ small; flat means each stays within FLAT_FACTOR. */
  p50Factor: number;
  p99Factor: number;
  flat: boolean;
}

/** How much worse the latency may get from a few thousand to 100,000 resources and still count as flat. */
export const FLAT_FACTOR = 1.5;
export const SCALE_RESOURCES = 100_000;
export const BACKLOG_SECONDS = Number(process.env.BENCH_BACKLOG_SECONDS ?? 20);
export const BACKLOG_LIMIT_S = 60;

/** Provisioned resources as a partner's fleet holds them, with their finished work. */
const SEED_SQL = `
  with ids as (select gen_random_uuid() as uuid from generate_series(1, $1)),
  res as (
    insert into resources (uuid, name, plan, region_value, heroku_region, private_space,
                           agent_region, state, generation, applied_generation, callback_url)
    select uuid, 'seed-' || uuid, 'standard', 'us', 'us', false, 'us-east', 'provisioned', 1, 1,
           'https://seed.invalid/callback'
      from ids
    returning uuid),
  ops as (
    insert into operations (id, resource_uuid, kind, generation, state, plan, attempts,
                            dispatched_at, completed_at)
    select gen_random_uuid(), uuid, 'provision', 1, 'succeeded', 'standard', 1, now(), now()
      from res
    returning 1),
  calls as (
    insert into heroku_calls (resource_uuid, kind, dedupe_key, state, attempts, last_status,
                              completed_at)
    select uuid, k, k, 'succeeded', 1, 200, now()
      from res, unnest(array['exchange_grant', 'app_log', 'config_update', 'provision_action']) k
    returning 1)
  select 1`;

async function countResources(client: pg.Client): Promise<number> {
  const r = await client.query<{ n: string }>('select count(*) as n from resources');
  return Number(r.rows[0]!.n);
}

async function withClient<T>(databaseUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export const resourceCount = (databaseUrl: string): Promise<number> =>
  withClient(databaseUrl, countResources);

/** Seeds up to `total` resources in batches, showing progress, then VACUUM (ANALYZE). */
export async function seedResources(
  databaseUrl: string,
  total: number,
  say: (s: string) => void,
): Promise<number> {
  return withClient(databaseUrl, async (client) => {
    const started = performance.now();
    for (let have = await countResources(client); have < total;) {
      const n = Math.min(25_000, total - have);
      await client.query(SEED_SQL, [n]);
      have += n;
      say(`    seeded ${have} resources (${round((performance.now() - started) / 1000)} s)`);
    }
    // Vacuumed as well as analyzed, as a database that grew this large over months would be;
    // else autovacuum may take the 500,000 new rows on during the measured round.
    await client.query('vacuum (analyze) resources, operations, heroku_calls');
    return countResources(client);
  });
}

const short = (r: ShortRound): ShortRound => ({
  rps: r.rps,
  p50Ms: r.p50Ms,
  p99Ms: r.p99Ms,
  drainS: r.drainS,
  sustainedRps: r.sustainedRps,
});

export function scaleReport(
  small: ShortRound & { resources: number },
  large: ShortRound & { resources: number },
): ScaleReport {
  const p50Factor = round(large.p50Ms / small.p50Ms);
  const p99Factor = round(large.p99Ms / small.p99Ms);
  return {
    small: { ...short(small), resources: small.resources },
    large: { ...short(large), resources: large.resources },
    p50Factor,
    p99Factor,
    flat: p50Factor <= FLAT_FACTOR && p99Factor <= FLAT_FACTOR,
  };
}

export interface BacklogReport {
  seconds: number;
  accepted: number;
  drainS: number;
}

export function checksMet(
  scale: ScaleReport | undefined,
  backlog: BacklogReport | undefined,
): { noBacklog: boolean | null; flatLatency: boolean | null } {
  return {
    noBacklog: backlog ? backlog.drainS <= BACKLOG_LIMIT_S : null,
    flatLatency: scale ? scale.flat : null,
  };
}

/** The summary lines of the two checks (none for a check that did not run). */
export function checkLines(
  scale: ScaleReport | undefined,
  backlog: BacklogReport | undefined,
): string[] {
  const lines: string[] = [];
  if (scale) {
    const { small, large } = scale;
    lines.push(
      `  plain path at ${small.resources} → ${large.resources} resources: ` +
        `p50 ${small.p50Ms} → ${large.p50Ms} ms, p99 ${small.p99Ms} → ${large.p99Ms} ms ` +
        `(${scale.flat ? 'flat' : 'NOT flat'}: within ${FLAT_FACTOR}x)`,
    );
  }
  if (backlog) {
    const within = backlog.drainS <= BACKLOG_LIMIT_S ? 'within' : 'NOT within';
    lines.push(
      `  backlog: ${backlog.accepted} accepted in ${backlog.seconds} s, nothing pending after ` +
        `${backlog.drainS} s (${within} ${BACKLOG_LIMIT_S} s)`,
    );
  }
  return lines;
}
