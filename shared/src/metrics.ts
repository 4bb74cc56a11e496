/**
 * Prometheus metrics for both deployables (prom-client): one registry per process part (never
 * prom-client's global one, so two control planes in one test process count apart), Node's
 * default process metrics, gauges read at scrape time, and the GET /metrics answer.
 */
import { timingSafeEqual } from 'node:crypto';
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type LabelValues,
} from 'prom-client';

export { Registry };
export type { Counter, Gauge, Histogram };

/** A registry with Node's default process metrics (CPU, memory, event loop, GC, handles). */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

export function counter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [registry] });
}

export function histogram<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  buckets: number[],
): Histogram<L> {
  return new Histogram({ name, help, labelNames, buckets, registers: [registry] });
}

/** A gauge the code sets (`.set(labels, value)`). */
export function gauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): Gauge<L> {
  return new Gauge({ name, help, labelNames, registers: [registry] });
}

export interface Sample<L extends string> {
  labels: LabelValues<L>;
  value: number;
}

/**
 * A gauge whose series are read when Prometheus scrapes: `read` answers every series (the ones
 * it leaves out disappear). Pair it with {@link cached} so a scrape costs one query per few
 * seconds whatever the number of scrapers.
 */
export function scrapeGauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: () => Promise<Sample<L>[]>,
): Gauge<L> {
  return new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect(this: Gauge<L>): Promise<void> {
      const samples = await read();
      this.reset();
      for (const s of samples) this.set(s.labels, s.value);
    },
  });
}

/**
 * `load` at most once per `ttlMs`, concurrent callers sharing one call in flight. A failed load
 * is not kept: the next caller tries again.
 */
export function cached<T>(
  load: () => Promise<T>,
  ttlMs: number,
  now: () => number = Date.now,
): () => Promise<T> {
  let value: { at: number; promise: Promise<T> } | undefined;
  return () => {
    if (value && now() - value.at < ttlMs) return value.promise;
    const promise = load();
    const entry = { at: now(), promise };
    value = entry;
    promise.catch(() => {
      if (value === entry) value = undefined;
    });
    return promise;
  };
}

/** Histogram buckets (s) of things that take from milliseconds to about an hour. */
export const LONG_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600];
/** Histogram buckets (s) of HTTP answers (the sync provision budget is 2 s). */
export const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Whether a scrape may read the metrics: always without a token, otherwise only with
 * `Authorization: Bearer <token>` (compared in constant time).
 */
export function scrapeAllowed(
  authorization: string | undefined,
  token: string | undefined,
): boolean {
  if (!token) return true;
  const match = /^Bearer (.+)$/.exec(authorization ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!);
  const wanted = Buffer.from(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/** The text exposition of a registry. */
export async function exposition(
  registry: Registry,
): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}
