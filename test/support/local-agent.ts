/**
 * A real region agent process with the local driver (TLS redis-servers on loopback), and a
 * verified-TLS redis client for the config an add-on got: what the e2e suites share.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';

/**
 * `node --import tsx region-agent/src/main.ts`: one process (not tsx's CLI and its child), so
 * a signal such as SIGSTOP reaches the agent itself.
 */
export function spawnLocalAgent(
  natsUrl: string,
  dataDir: string,
  env: Record<string, string> = {},
): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'region-agent/src/main.ts'], {
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
    stdio: 'ignore',
  });
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
