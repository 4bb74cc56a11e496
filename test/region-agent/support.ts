/** Helpers for the region-agent suites: jobs, temp dirs, and killing leftover redis processes. */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireBinary } from '../../shared/src/binaries.js';
import { MESSAGE_VERSION, type Job, type OperationKind } from '../../shared/src/messages.js';
import { createEngines, type Engines } from '../../region-agent/src/engines/index.js';
import { createRedisEngine } from '../../region-agent/src/engines/redis/engine.js';

/** The engines a test agent runs: redis, from this machine's redis-server. */
export function redisEngines(): Engines {
  return createEngines([createRedisEngine({ bin: requireBinary('redis-server') })]);
}

export function makeJob(
  kind: OperationKind,
  uuid: string,
  overrides: Partial<Omit<Job, 'resource'>> & {
    memoryMb?: number;
    plan?: string;
    region?: string;
    engine?: string;
  } = {},
): Job {
  const { memoryMb = 32, plan = 'mini', region = 'us-east', engine = 'redis', ...rest } = overrides;
  return {
    version: MESSAGE_VERSION,
    operationId: randomUUID(),
    kind,
    generation: 1,
    attempt: 1,
    resource: {
      uuid,
      name: `redis-${uuid.slice(0, 8)}`,
      plan,
      engine,
      size: { memoryMb, cpuMillis: 100 },
      herokuRegion: 'amazon-web-services::us-east-1',
      agentRegion: region,
      privateSpace: false,
    },
    configVarsPrefix: 'MYREDIS',
    params: {},
    deadline: new Date(Date.now() + 60_000).toISOString(),
    traceId: 'trace-1',
    ...rest,
  };
}

/** Pids recorded in every instance state file under a data dir (any depth ≤ 3). */
export function recordedPids(dir: string, depth = 0): number[] {
  const pids: number[] = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return pids;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory() && depth < 4) pids.push(...recordedPids(path, depth + 1));
    if (e.isFile() && e.name === 'state.json') {
      const pid = (JSON.parse(readFileSync(path, 'utf8')) as { pid?: number }).pid;
      if (pid) pids.push(pid);
    }
  }
  return pids;
}

export function killRecorded(dir: string): void {
  for (const pid of recordedPids(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('redis-server');
  } catch {
    return false;
  }
}
