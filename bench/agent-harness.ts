/**
 * Drives a running region agent over NATS the way the control plane does: jobs published with
 * JetStream (msgID = operationId), final results read on `results.>`. Times each job from just
 * before its publish to the arrival of its final result.
 */
import type { JetStreamClient, NatsConnection, Subscription } from 'nats';
import {
  ResultSchema,
  decodeMessage,
  encodeMessage,
  type Job,
  type Result,
} from '../shared/src/messages.js';
import { RESULTS_SUBJECTS, jobSubject } from '../shared/src/subjects.js';
import { round } from './load.js';

export interface Sample {
  operationId: string;
  uuid: string;
  status: Result['status'];
  errorCode: string | undefined;
  publishedAt: number;
  finishedAt: number;
}

export interface Stats {
  jobs: number;
  succeeded: number;
  failed: number;
  /** First publish → last final result. */
  wallMs: number;
  jobsPerSec: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface Finals {
  wait(operationId: string, timeoutMs: number): Promise<{ result: Result; at: number }>;
  readonly count: number;
  close(): void;
}

/** Records the first final (non-progress) result of every operation, stamped on arrival. */
export function watchFinals(nc: NatsConnection): Finals {
  const finals = new Map<string, { result: Result; at: number }>();
  const waiters = new Map<string, (f: { result: Result; at: number }) => void>();
  const sub: Subscription = nc.subscribe(RESULTS_SUBJECTS, {
    callback: (err, m) => {
      const at = performance.now();
      if (err) return;
      const result = decodeMessage(ResultSchema, m.data);
      if (result.status === 'progress' || finals.has(result.operationId)) return;
      const final = { result, at };
      finals.set(result.operationId, final);
      waiters.get(result.operationId)?.(final);
      waiters.delete(result.operationId);
    },
  });
  return {
    wait(operationId, timeoutMs) {
      const found = finals.get(operationId);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no final result for ${operationId} after ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.set(operationId, (f) => {
          clearTimeout(timer);
          resolve(f);
        });
      });
    },
    get count() {
      return finals.size;
    },
    close: () => sub.unsubscribe(),
  };
}

async function publish(js: JetStreamClient, job: Job): Promise<number> {
  const publishedAt = performance.now();
  await js.publish(jobSubject(job.resource.agentRegion, job.kind), encodeMessage(job), {
    msgID: job.operationId,
  });
  return publishedAt;
}

async function complete(
  finals: Finals,
  job: Job,
  publishedAt: number,
  timeoutMs: number,
): Promise<Sample> {
  const { result, at } = await finals.wait(job.operationId, timeoutMs);
  return {
    operationId: job.operationId,
    uuid: job.resource.uuid,
    status: result.status,
    errorCode: result.error?.code,
    publishedAt,
    finishedAt: at,
  };
}

/** Every job published at once (a backlog); latencies include the wait in the queue. */
export async function runBurst(
  js: JetStreamClient,
  finals: Finals,
  jobs: Job[],
  timeoutMs: number,
): Promise<Sample[]> {
  const published = await Promise.all(
    jobs.map(async (job) => ({ job, at: await publish(js, job) })),
  );
  return Promise.all(published.map(({ job, at }) => complete(finals, job, at, timeoutMs)));
}

/** `inFlight` workers, each publishing its next job when the previous one's result arrives. */
export async function runClosedLoop(
  js: JetStreamClient,
  finals: Finals,
  jobs: Job[],
  inFlight: number,
  timeoutMs: number,
): Promise<Sample[]> {
  const samples: Sample[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      samples.push(await complete(finals, job, await publish(js, job), timeoutMs));
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, jobs.length) }, worker));
  return samples;
}

/** Nearest-rank percentile (with 30 samples, p99 is the maximum). */
function percentile(sorted: number[], p: number): number {
  return round(sorted[Math.max(0, Math.ceil(sorted.length * p) - 1)] ?? 0);
}

export function summarize(samples: Sample[]): Stats {
  if (samples.length === 0) {
    // A phase sized to 0 jobs (BENCH_AGENT_LOCAL_JOBS=0): nothing measured, no ±Infinity.
    const none = { jobs: 0, succeeded: 0, failed: 0, wallMs: 0, jobsPerSec: 0 };
    return { ...none, p50Ms: 0, p95Ms: 0, p99Ms: 0, maxMs: 0 };
  }
  const latencies = samples.map((s) => s.finishedAt - s.publishedAt).sort((a, b) => a - b);
  const first = Math.min(...samples.map((s) => s.publishedAt));
  const last = Math.max(...samples.map((s) => s.finishedAt));
  const wallMs = last - first;
  const succeeded = samples.filter((s) => s.status === 'succeeded').length;
  return {
    jobs: samples.length,
    succeeded,
    failed: samples.length - succeeded,
    wallMs: round(wallMs),
    jobsPerSec: round((samples.length * 1000) / wallMs),
    p50Ms: percentile(latencies, 0.5),
    p95Ms: percentile(latencies, 0.95),
    p99Ms: percentile(latencies, 0.99),
    maxMs: percentile(latencies, 1),
  };
}

/** Prints `label: done/total` every two seconds while `work` runs. */
export async function withProgress<T>(
  label: string,
  total: number,
  done: () => number,
  work: Promise<T>,
  say: (s: string) => void,
): Promise<T> {
  const started = performance.now();
  const timer = setInterval(
    () =>
      say(
        `    ${label}: ${done()}/${total} results after ${((performance.now() - started) / 1000).toFixed(1)} s`,
      ),
    2_000,
  );
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}
