/**
 * `npm run region-agent` as a process: two regions in one agent, /readyz, a real job, and a
 * clean exit on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { freePort, waitFor } from '../../shared/src/ports.js';
import {
  ResultSchema,
  decodeMessage,
  encodeMessage,
  type Result,
} from '../../shared/src/messages.js';
import { jobSubject, resultSubject } from '../../shared/src/subjects.js';
import { startTestNats, type TestNats } from '../support/nats.js';
import { killRecorded, makeJob } from './support.js';

const dataDir = mkdtempSync(join(tmpdir(), 'ra-main-'));
let server: TestNats;
let nc: NatsConnection;
let child: ChildProcess;
let healthPort: number;
let output = '';

beforeAll(async () => {
  server = await startTestNats();
  nc = await connect({ servers: server.url });
  healthPort = await freePort();
  child = spawn(join(process.cwd(), 'node_modules/.bin/tsx'), ['region-agent/src/main.ts'], {
    env: {
      ...process.env,
      AGENT_REGION: 'us-east,eu-west',
      AGENT_ID: 'main-test',
      NATS_URL: server.url,
      AGENT_DATA_DIR: dataDir,
      HEALTH_PORT: String(healthPort),
      HEARTBEAT_MS: '500',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok,
    'agent /readyz',
    30_000,
    200,
  );
});

afterAll(async () => {
  if (child.exitCode === null) child.kill('SIGKILL');
  await nc.drain();
  await server.stop();
  killRecorded(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
});

describe('region-agent main', () => {
  it('serves every configured region from one process', async () => {
    for (const region of ['us-east', 'eu-west']) {
      const uuid = randomUUID();
      const job = makeJob('provision', uuid, { region });
      const sub = nc.subscribe(resultSubject(region, uuid));
      const final = (async (): Promise<Result | undefined> => {
        for await (const m of sub) {
          const r = decodeMessage(ResultSchema, m.data);
          if (r.status !== 'progress') return r;
        }
        return undefined;
      })();
      await nc
        .jetstream()
        .publish(jobSubject(region, 'provision'), encodeMessage(job), { msgID: job.operationId });
      const result = await final;
      expect(result).toMatchObject({
        status: 'succeeded',
        agentRegion: region,
        agentId: 'main-test',
      });
      expect(result?.config?.MYREDIS_URL).toMatch(/^rediss:\/\//);
      sub.unsubscribe();
    }
  });

  it('exits 0 on SIGTERM without logging credentials', async () => {
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('shutdown complete');
    expect(output).not.toContain('rediss://');
  });
});
