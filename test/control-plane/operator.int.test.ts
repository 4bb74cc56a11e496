/**
 * The operator CLI, run as an operator runs it (a process, env only, no NATS), on a real
 * Postgres: `stuck` finds what is past its deadline, `retry` and `fail` act on one operation
 * within the rules, audited, and a failure is reported as any failure is.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

const run = promisify(execFile);
let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.pool(2);
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

/** The operator's environment has no NATS at all. */
function withoutNats(): NodeJS.ProcessEnv {
  const { NATS_URL: _n, ...env } = process.env;
  return env;
}

async function operator(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', 'control-plane/src/operator/main.ts', ...args],
      { env: { ...withoutNats(), DATABASE_URL: db.url, NODE_ENV: 'development' } },
    );
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, out: err.stdout, err: err.stderr };
  }
}

/** A resource with one operation in the given state. */
async function seed(kind: string, opState: string, resState: string, answerAsync = false) {
  const uuid = randomUUID();
  const id = randomUUID();
  await pool.query(
    `insert into resources (uuid, name, plan, region_value, heroku_region, agent_region, state)
     values ($1, 'n', 'standard', 'v', 'us', 'us-east', $2)`,
    [uuid, resState],
  );
  await pool.query(
    `insert into operations (id, resource_uuid, kind, generation, state, plan, attempts, deadline, answer_async)
     values ($1, $2, $3, 1, $4, 'standard', 5, now() - interval '20 minutes', $5)`,
    [id, uuid, kind, opState, answerAsync],
  );
  return { uuid, id };
}

const opState = async (id: string) =>
  (await pool.query('select state from operations where id = $1', [id])).rows[0]?.state;
const resState = async (uuid: string) =>
  (await pool.query('select state from resources where uuid = $1', [uuid])).rows[0]?.state;

it('stuck lists an operation past its deadline, as a table and as JSON', async () => {
  const { id } = await seed('provision', 'dispatched', 'provisioning');
  const human = await operator('stuck', '--older-than', '10m');
  expect(human.code).toBe(0);
  expect(human.out).toMatch(new RegExp(`${id}\\s+\\S+\\s+provision\\s+dispatched\\s+5`));
  const json = await operator('stuck', '--older-than', '30m', '--json');
  expect(JSON.parse(json.out).operations.map((o: { id: string }) => o.id)).not.toContain(id);
  const wider = JSON.parse((await operator('stuck', '--older-than', '5m', '--json')).out);
  expect(wider.operations.map((o: { id: string }) => o.id)).toContain(id);
});

it('retry makes an open operation due again and audits it; a failed provision is refused', async () => {
  const open = await seed('change_plan', 'dispatched', 'provisioned');
  const res = await operator('retry', open.id);
  expect(res.code).toBe(0);
  expect(res.out).toContain('dispatched again');
  expect(await opState(open.id)).toBe('pending');
  const audit = await pool.query(
    `select actor from audit_events where resource_uuid = $1 and action = 'operation_retried_by_operator'`,
    [open.uuid],
  );
  expect(audit.rows).toEqual([{ actor: 'operator' }]);

  const failed = await seed('provision', 'failed', 'failed');
  const refused = await operator('retry', failed.id);
  expect(refused.code).toBe(1);
  expect(refused.err).toContain('only open operations and failed deprovisions can be retried');
  expect(await opState(failed.id)).toBe('failed');
});

it('retry of a failed deprovision deprovisions again', async () => {
  const { uuid, id } = await seed('deprovision', 'failed', 'failed');
  expect((await operator('retry', id)).code).toBe(0);
  expect(await opState(id)).toBe('pending');
  expect(await resState(uuid)).toBe('deprovisioning');
});

it('fail ends an open async provision and reports it: Heroku deprovision action queued', async () => {
  const { uuid, id } = await seed('provision', 'dispatched', 'provisioning', true);
  expect((await operator('fail', id)).code).toBe(1); // --reason is required
  const res = await operator('fail', id, '--reason', 'region lost');
  expect(res.code).toBe(0);
  expect(res.out).toContain('Heroku and the app log are told');
  expect(await opState(id)).toBe('failed');
  expect(await resState(uuid)).toBe('failed');
  const calls = await pool.query('select kind from heroku_calls where resource_uuid = $1', [uuid]);
  expect(calls.rows).toEqual([{ kind: 'deprovision_action' }]);
  const again = await operator('fail', id, '--reason', 'twice');
  expect(again.code).toBe(1);
  expect(again.err).toContain('already failed');
});
