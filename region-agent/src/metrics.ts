/**
 * The agent's metrics, served on its health port (health.ts). Job counters are recorded by the
 * job loop; instance and certificate gauges are read from the drivers when Prometheus scrapes,
 * cached a few seconds (an inventory of the local driver probes every instance).
 */
import type { NatsConnection } from 'nats';
import type { Job } from '../../shared/src/messages.js';
import {
  cached,
  counter,
  createRegistry,
  histogram,
  LONG_BUCKETS,
  scrapeGauge,
  type Registry,
} from '../../shared/src/metrics.js';
import type { Driver } from './driver.js';
import type { Engine } from './engines/engine.js';
import type { Engines } from './engines/index.js';

/** A leaf is counted as expiring soon when it is due within this (README: agent metrics). */
export const EXPIRING_SOON_MS = 14 * 86_400_000;

/** `superseded`: refused as older than the instance (fence.ts), reported, not a failure of ours. */
export type JobResult = 'succeeded' | 'failed' | 'superseded' | 'retried' | 'expired';

export interface AgentMetrics {
  registry: Registry;
  jobFinished(kind: Job['kind'], result: JobResult, seconds: number): void;
  probeFailed(): void;
}

export function createAgentMetrics(registry: Registry = createRegistry()): AgentMetrics {
  const jobs = counter(registry, 'agent_jobs_total', 'Job attempts by outcome', ['kind', 'result']);
  const duration = histogram(
    registry,
    'agent_job_duration_seconds',
    'Job attempt time, its FIFO wait included',
    ['kind'],
    LONG_BUCKETS,
  );
  const probes = counter(
    registry,
    'agent_instance_probe_failures_total',
    'Verified-TLS readiness probes that failed or did not answer',
  );
  return {
    registry,
    jobFinished(kind, result, seconds) {
      jobs.inc({ kind, result });
      duration.observe({ kind }, seconds);
    },
    probeFailed: () => probes.inc(),
  };
}

/** Engines whose readiness probe counts its failures. */
export function countingProbeFailures(
  engines: Engines,
  metrics: AgentMetrics | undefined,
): Engines {
  if (!metrics) return engines;
  const wrap = (engine: Engine): Engine =>
    Object.assign(Object.create(engine) as Engine, {
      async ready(target: Parameters<Engine['ready']>[0]): Promise<boolean> {
        const ok = await engine.ready(target).catch((err: unknown) => {
          metrics.probeFailed();
          throw err;
        });
        if (!ok) metrics.probeFailed();
        return ok;
      },
    });
  return {
    get: (name) => wrap(engines.get(name)),
    all: () => engines.all().map(wrap),
  };
}

/** Instances by state, leaves expiring soon and the NATS connection, read at scrape time. */
export function registerAgentGauges(
  registry: Registry,
  deps: { nc: NatsConnection; drivers: Driver[]; cacheMs?: number; now?: () => number },
): void {
  const now = deps.now ?? Date.now;
  const ttl = deps.cacheMs ?? 10_000;
  const inventory = cached(
    async () => (await Promise.all(deps.drivers.map((d) => d.inventory()))).flat(),
    ttl,
  );
  const expiries = cached(
    async () =>
      (await Promise.all(deps.drivers.map((d) => d.certificateExpiries?.() ?? []))).flat(),
    ttl,
  );
  let connected = !deps.nc.isClosed();
  void (async () => {
    for await (const s of deps.nc.status()) {
      if (s.type === 'disconnect') connected = false;
      if (s.type === 'reconnect') connected = true;
    }
  })().catch(() => undefined);

  scrapeGauge(registry, 'agent_instances', 'Instances by state', ['state'], async () => {
    const all = await inventory();
    const ready = all.filter((i) => i.ready).length;
    return [
      { labels: { state: 'ready' }, value: ready },
      { labels: { state: 'not_ready' }, value: all.length - ready },
    ];
  });
  scrapeGauge(
    registry,
    'agent_certificates_expiring_soon',
    'Instance leaves that expire within 14 days',
    [],
    async () => {
      const due = (await expiries()).filter((at) => Date.parse(at) - now() < EXPIRING_SOON_MS);
      return [{ labels: {}, value: due.length }];
    },
  );
  scrapeGauge(registry, 'agent_nats_connected', 'Connected to NATS (0/1)', [], () =>
    Promise.resolve([{ labels: {}, value: connected && !deps.nc.isClosed() ? 1 : 0 }]),
  );
}
