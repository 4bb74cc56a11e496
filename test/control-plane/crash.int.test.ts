/**
 * A control plane killed between publishing a job and committing "dispatched": after a
 * restart the job is re-published with the same Nats-Msg-Id and JetStream keeps one copy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect } from 'nats';
import pg from 'pg';
import { freePort, waitFor } from '../../shared/src/ports.js';
import { stopChild } from '../../deploy/local/postgres.js';
import { JOBS_STREAM } from '../../shared/src/subjects.js';
import { DEV_AUTH } from '../support/control-plane.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { startTestNats, type TestNats } from '../support/nats.js';

let db: TestDatabase;
let nats: TestNats;

beforeAll(async () => {
  db = await createTestDatabase();
  nats = await startTestNats();
});
afterAll(async () => {
  await nats.stop();
  await db.drop();
});

async function startProcess(
  port: number,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; exited: Promise<number | null> }> {
  const child = spawn(
    process.execPath,
    ['node_modules/tsx/dist/cli.mjs', 'control-plane/src/main.ts'],
    {
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        NATS_URL: nats.url,
        PORT: String(port),
        HOST: '127.0.0.1',
        SYNC_BUDGET_MS: '0',
        LOG_LEVEL: 'warn',
        OUTBOX_SWEEP_MS: '100',
        ...env,
      },
      stdio: 'ignore',
    },
  );
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ? 137 : code)),
  );
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok,
    'control plane',
    60_000,
    100,
  );
  return { child, exited };
}

it('a crash between publish and commit publishes each job exactly once after restart', async () => {
  const port = await freePort();
  const crashing = await startProcess(port, { FAULT_CRASH_AFTER_PUBLISH: '1' });
  const uuid = randomUUID();
  await fetch(`http://127.0.0.1:${port}/heroku/resources`, {
    method: 'POST',
    headers: { Authorization: DEV_AUTH, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      uuid,
      name: 'crashy',
      plan: 'standard',
      region: 'amazon-web-services::eu-west-1',
      oauth_grant: { code: 'c', expires_at: new Date().toISOString(), type: 'authorization_code' },
    }),
  }).catch(() => undefined);
  expect(await crashing.exited).toBe(137);

  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const before = await client.query('select state from operations where resource_uuid = $1', [
    uuid,
  ]);
  expect(before.rows).toEqual([{ state: 'pending' }]);

  const restarted = await startProcess(port, {});
  await waitFor(
    async () =>
      (await client.query(`select state from operations where resource_uuid = $1`, [uuid])).rows[0]
        ?.state === 'dispatched',
    'redispatch',
    20_000,
  );

  const nc = await connect({ servers: nats.url });
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info(JOBS_STREAM);
  expect(info.state.messages).toBe(1);
  const msg = await jsm.streams.getMessage(JOBS_STREAM, { last_by_subj: 'jobs.eu-west.provision' });
  const op = await client.query('select id, attempts from operations where resource_uuid = $1', [
    uuid,
  ]);
  expect(msg.header.get('Nats-Msg-Id')).toBe(op.rows[0].id);
  expect(op.rows[0].attempts).toBe(1);
  await nc.close();
  await client.end();
  await stopChild(restarted.child, 'SIGTERM');
  expect(await restarted.exited).toBe(0);
});
