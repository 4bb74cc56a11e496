/**
 * Gauges read from Postgres when Prometheus scrapes, cached a few seconds: every replica
 * answers the same fleet-wide value (alert on max(), not sum()), and no replica runs a timer.
 */
import type { Logger } from '../../../shared/src/logger.js';
import { OperationKindSchema } from '../../../shared/src/messages.js';
import {
  cached,
  counter,
  scrapeGauge,
  type Registry,
  type Sample,
} from '../../../shared/src/metrics.js';
import { regionLiveness, type RegionLiveness } from '../db/agents.js';
import { queueSnapshot, type QueueSnapshot } from '../db/metrics.js';
import type { Pool } from '../db/pool.js';
import { driftCounts } from '../db/drift.js';

export interface ScrapeGaugeDeps {
  pool: Pool;
  log: Logger;
  /** AGENT_DEAD_AFTER_S: an agent silent longer is not up. */
  deadAfterS: number;
  /** How long one read serves every scrape (default 5 s). */
  cacheMs?: number;
}

const OPEN_STATES = ['pending', 'scheduled', 'dispatched'] as const;

/** Every kind × state, zeros included, so a dashboard shows 0 rather than no data. */
function openSeries(snapshot: QueueSnapshot | undefined): Sample<'kind' | 'state'>[] {
  if (!snapshot) return [];
  const open = new Map(snapshot.operations.map((o) => [`${o.kind}/${o.state}`, o.open]));
  return OperationKindSchema.options.flatMap((kind) =>
    OPEN_STATES.map((state) => ({
      labels: { kind, state },
      value: open.get(`${kind}/${state}`) ?? 0,
    })),
  );
}

const FINDINGS = ['missing', 'stale', 'orphan', 'unknown'] as const;

type Guard = <T>(empty: T, load: () => Promise<T>) => () => Promise<T>;

/**
 * The reconciler's findings per region (every region it has run for, zeros included) and
 * whether its last pass there was skipped (agents silent or not all answering).
 */
function registerDriftGauges(registry: Registry, deps: ScrapeGaugeDeps, guard: Guard): void {
  const ttl = deps.cacheMs ?? 5000;
  const drift = guard(
    undefined,
    cached(() => driftCounts(deps.pool), ttl),
  );
  scrapeGauge(
    registry,
    'addon_drift_instances',
    'Instances whose region and database disagree, by finding, at the last reconcile pass',
    ['region', 'finding'],
    async () => {
      const d = await drift();
      if (!d) return [];
      const n = new Map(d.findings.map((f) => [`${f.agent_region}/${f.finding}`, f.n]));
      return d.runs.flatMap((r) =>
        FINDINGS.map((finding) => ({
          labels: { region: r.agent_region, finding },
          value: n.get(`${r.agent_region}/${finding}`) ?? 0,
        })),
      );
    },
  );
  scrapeGauge(
    registry,
    'addon_reconcile_skipped',
    "The region's last reconcile pass was skipped (0/1)",
    ['region'],
    async () =>
      ((await drift())?.runs ?? []).map((r) => ({
        labels: { region: r.agent_region },
        value: r.skipped ? 1 : 0,
      })),
  );
}

export function registerScrapeGauges(registry: Registry, deps: ScrapeGaugeDeps): void {
  const ttl = deps.cacheMs ?? 5000;
  const failures = counter(
    registry,
    'addon_metrics_query_failures_total',
    'Scrape-time gauge queries that failed (their gauges are left out of that scrape)',
  );
  const guard =
    <T>(empty: T, load: () => Promise<T>) =>
    async (): Promise<T> =>
      load().catch((err: unknown) => {
        failures.inc();
        deps.log.warn({ err }, 'metrics query failed');
        return empty;
      });
  registerDriftGauges(registry, deps, guard);
  const queues = guard<QueueSnapshot | undefined>(
    undefined,
    cached(() => queueSnapshot(deps.pool), ttl),
  );
  const agents = guard<RegionLiveness[]>(
    [],
    cached(() => regionLiveness(deps.pool, deps.deadAfterS), ttl),
  );

  scrapeGauge(registry, 'addon_operations_open', 'Open operations', ['kind', 'state'], async () =>
    openSeries(await queues()),
  );
  scrapeGauge(
    registry,
    'addon_oldest_open_operation_age_seconds',
    'Age of the oldest open operation that is due (0 when none)',
    [],
    async () => {
      const snapshot = await queues();
      if (!snapshot) return [];
      const ages = snapshot.operations.map((o) => o.oldest_age_s ?? 0);
      return [{ labels: {}, value: Math.max(0, ...ages) }];
    },
  );
  scrapeGauge(
    registry,
    'addon_heroku_calls_pending',
    'Calls to Heroku not sent yet',
    [],
    async () => {
      const snapshot = await queues();
      return snapshot ? [{ labels: {}, value: snapshot.herokuCallsPending }] : [];
    },
  );
  scrapeGauge(
    registry,
    'addon_agent_up',
    'An agent of the region is alive (0/1)',
    ['region'],
    async () =>
      (await agents()).map((r) => ({
        labels: { region: r.agent_region },
        value: r.live_agents > 0 ? 1 : 0,
      })),
  );
  scrapeGauge(
    registry,
    'addon_agent_heartbeat_age_seconds',
    'Age of the region freshest agent heartbeat',
    ['region'],
    async () =>
      (await agents()).map((r) => ({
        labels: { region: r.agent_region },
        value: Number(r.last_seen_age_s),
      })),
  );
}
