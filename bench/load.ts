/** A closed-loop HTTP load generator: `concurrency` workers for `seconds`, latency percentiles. */
import { Agent, request } from 'node:http';

export interface LoadResult {
  requests: number;
  errors: number;
  statuses: Record<string, number>;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export async function runLoad(opts: {
  url: string;
  concurrency: number;
  seconds: number;
  makeRequest: () => {
    method: string;
    path: string;
    headers: Record<string, string>;
    body: string;
  };
  onProgress?: (done: number, elapsedS: number) => void;
}): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const target = new URL(opts.url);
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  const started = performance.now();
  const end = started + opts.seconds * 1000;
  const progress = setInterval(
    () => opts.onProgress?.(latencies.length, (performance.now() - started) / 1000),
    2000,
  );
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const r = opts.makeRequest();
      const t0 = performance.now();
      const req = request(
        {
          host: target.hostname,
          port: target.port,
          method: r.method,
          path: r.path,
          headers: { ...r.headers, 'Content-Length': Buffer.byteLength(r.body) },
          agent,
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - t0);
            statuses[res.statusCode ?? 0] = (statuses[res.statusCode ?? 0] ?? 0) + 1;
            if ((res.statusCode ?? 500) >= 400) errors++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(r.body);
    });
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (performance.now() < end) await one();
    }),
  );
  clearInterval(progress);
  agent.destroy();
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number =>
    round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0);
  return {
    requests: latencies.length,
    errors,
    statuses,
    seconds: round(seconds),
    rps: round(latencies.length / seconds),
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    maxMs: pct(1),
  };
}

export const round = (n: number): number => Math.round(n * 100) / 100;
