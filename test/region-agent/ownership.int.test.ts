/**
 * One local agent per region: a second one with another data dir refuses to start (its jobs
 * would reach instances it does not hold); the same data dir is the same holder. Real
 * nats-server, and real agent processes for the start-up refusal.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { createLogger } from '../../shared/src/logger.js';
import { stopChild } from '../../deploy/local/postgres.js';
import { waitFor } from '../../shared/src/ports.js';
import {
  holdRegion,
  localHolder,
  RegionHeldError,
} from '../../region-agent/src/agent/ownership.js';
import { startTestNats, type TestNats } from '../support/nats.js';
import { spawnLocalAgent } from '../support/local-agent.js';

const logs: string[] = [];
const log = createLogger({
  name: 'ownership',
  level: 'info',
  destination: { write: (line: string) => void logs.push(line) },
});
let nats: TestNats;
let nc: NatsConnection;
const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'ra-owner-'));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  nats = await startTestNats();
  nc = await connect({ servers: nats.url });
});
afterAll(async () => {
  await nc.drain();
  await nats.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

it('refuses a second holder of a region, and lets the same data dir in again', async () => {
  const a = { holder: localHolder('/data/a'), agentId: 'agent-a' };
  const b = { holder: localHolder('/data/b'), agentId: 'agent-b' };
  const held = await holdRegion(nc, 'us-west', a, log, 300);
  const refused = holdRegion(nc, 'us-west', b, log, 300);
  await expect(refused).rejects.toBeInstanceOf(RegionHeldError);
  await expect(refused).rejects.toThrow(/already served by local agent agent-a .*\/data\/a/);
  expect(logs.some((l) => l.includes('another local agent tried to serve this region'))).toBe(true);
  // Another region is free; the same holder (a restarted agent) is let in.
  (await holdRegion(nc, 'eu-central', b, log, 300)).release();
  const again = await holdRegion(nc, 'us-west', { ...a, agentId: 'agent-a2' }, log, 300);
  again.release();
  held.release();
  (await holdRegion(nc, 'us-west', b, log, 300)).release();
});

it('a second local agent process of a region with another data dir exits with a clear error', async () => {
  const first = spawnLocalAgent(nats.url, tempDir(), { AGENT_REGION: 'ap-southeast' });
  try {
    // The first answers once it holds the region ("no responders" until then).
    await waitFor(
      async () =>
        await nc.request('agents.ap-southeast.owner', undefined, { timeout: 500 }).then(
          () => true,
          () => false,
        ),
      'the first agent holds the region',
      30_000,
      100,
    );
    const second = spawn(process.execPath, ['--import', 'tsx', 'region-agent/src/main.ts'], {
      env: {
        ...process.env,
        NATS_URL: nats.url,
        AGENT_REGION: 'ap-southeast',
        AGENT_DRIVER: 'local',
        AGENT_DATA_DIR: tempDir(),
        HEALTH_PORT: '0',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    second.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => {
      const timer = setTimeout(() => second.kill('SIGKILL'), 30_000);
      second.on('exit', (c) => {
        clearTimeout(timer);
        r(c);
      });
    });
    expect(code).toBe(1);
    expect(stderr).toContain('region ap-southeast is already served by local agent');
  } finally {
    await stopChild(first, 'SIGTERM');
  }
});
