/**
 * A real region agent process with the local driver (TLS redis-servers on loopback), and a
 * verified-TLS redis client for the config an add-on got: what the e2e suites share.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { Redis } from 'ioredis';

/**
 * `node --import tsx region-agent/src/main.ts`: one process (not tsx's CLI and its child), so
 * a signal such as SIGSTOP reaches the agent itself.
 */
export function spawnLocalAgent(
  natsUrl: string,
  dataDir: string,
  env: Record<string, string> = {},
  /** When given, the agent's log lines (warn and above, JSON) are appended to it. */
  logs?: string[],
): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'region-agent/src/main.ts'], {
    env: {
      ...process.env,
      NATS_URL: natsUrl,
      AGENT_REGION: 'eu-west',
      AGENT_DRIVER: 'local',
      AGENT_DATA_DIR: dataDir,
      HEALTH_PORT: '0',
      HEARTBEAT_MS: '500',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', logs ? 'pipe' : 'ignore', 'ignore'],
  });
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => logs!.push(chunk));
  return child;
}

/**
 * Connects to a `rediss://` URL verifying the certificate against `ca` and the URL's host
 * name, runs `fn`, disconnects. `at` redirects the TCP connection (a fake load balancer).
 */
export async function withTlsRedis<T>(
  url: string,
  ca: string,
  fn: (client: Redis) => Promise<T>,
  at?: { host: string; port: number },
): Promise<T> {
  const u = new URL(url);
  const client = new Redis({
    host: at?.host ?? u.hostname,
    port: at?.port ?? Number(u.port),
    username: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    tls: { ca, servername: u.hostname },
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

/**
 * Processes working in `dataDir` (the redis-servers a local agent started there; they outlive
 * the agent on purpose), the agent itself excepted.
 */
export function instancePids(dataDir: string, agentPid?: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      if (readlinkSync(`/proc/${entry}/cwd`).startsWith(dataDir)) pids.push(Number(entry));
    } catch {
      /* gone, or not ours */
    }
  }
  return pids.filter((pid) => pid !== agentPid);
}

/** SIGKILLs what `instancePids` finds: a suite's afterAll, so no redis-server outlives it. */
export function killInstances(dataDir: string, agentPid?: number): void {
  for (const pid of instancePids(dataDir, agentPid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
