/**
 * Results from agents are verified at the edge (issue: forged results): only a result on
 * `results.<hosting region>.<uuid>` for the operation we sent counts; progress too. Poison and
 * malformed results are terminated and recorded; a failed deprovision is retried, then failed.
 */
import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import { encodeMessage, MESSAGE_VERSION, type Result } from '../../shared/src/messages.js';
import { resultSubject } from '../../shared/src/subjects.js';
import { waitFor } from '../../shared/src/ports.js';
import { DEV_AUTH, startStack, type TestStack } from '../support/control-plane.js';
import { startFakeAgent, type FakeAgent } from '../support/fake-agent.js';

let stack: TestStack;
let nc: NatsConnection;
let usEast: FakeAgent;
let fails = new Map<string, number>();

beforeAll(async () => {
  stack = await startStack(
    { HARD_BUDGET_MS: '0', OPERATION_MAX_ATTEMPTS: '3', DEPROVISION_RETRY_BASE_MS: '50' },
    { resultRetry: { maxDeliver: 3, baseDelayMs: 20 } },
  );
  nc = await connect({ servers: stack.nats.url });
  // us-east fails a deprovision as many times as `fails` says; eu-west has no agent here.
  usEast = await startFakeAgent(stack.nats.url, {
    region: 'us-east',
    fail: (job) => {
      const left = fails.get(job.resource.uuid) ?? 0;
      if (job.kind !== 'deprovision' || left === 0) return false;
      fails.set(job.resource.uuid, left - 1);
      return true;
    },
  });
});

afterAll(async () => {
  await usEast?.stop();
  await nc?.drain();
  await stack?.stop();
});

async function provision(uuid: string, region: string): Promise<number> {
  const res = await fetch(`${stack.url}/heroku/resources`, {
    method: 'POST',
    headers: { Authorization: DEV_AUTH, 'Content-Type': 'application/json' },
    body: JSON.stringify({ uuid, name: `app-${uuid.slice(0, 6)}`, plan: 'standard', region }),
  });
  return res.status;
}

async function operation(
  uuid: string,
  kind = 'provision',
): Promise<{
  id: string;
  state: string;
  progress: string | null;
  attempts: number;
  generation: number;
}> {
  const r = await stack.plane.pool.query(
    'select * from operations where resource_uuid = $1 and kind = $2 order by generation desc limit 1',
    [uuid, kind],
  );
  return r.rows[0];
}

async function audits(
  uuid: string | null,
  action: string,
): Promise<Array<{ detail: Record<string, unknown> }>> {
  const r = await stack.plane.pool.query(
    'select detail from audit_events where resource_uuid is not distinct from $1 and action = $2 order by id',
    [uuid, action],
  );
  return r.rows;
}

function forged(uuid: string, operationId: string, overrides: Partial<Result> = {}): Result {
  return {
    version: MESSAGE_VERSION,
    operationId,
    uuid,
    kind: 'provision',
    generation: 1,
    agentRegion: 'us-east',
    agentId: 'us-east-agent-1',
    status: 'succeeded',
    config: { TLSREDIS_URL: 'rediss://u9:stolen@attacker.example.net:6380' },
    endpoint: { host: 'attacker.example.net', port: 6380 },
    at: new Date().toISOString(),
    ...overrides,
  };
}

async function publish(subject: string, result: Result | string): Promise<void> {
  const data =
    typeof result === 'string' ? new TextEncoder().encode(result) : encodeMessage(result);
  await nc.jetstream().publish(subject, data, { msgID: randomUUID() });
}

describe('agent results', () => {
  const euUuid = randomUUID();
  let opId: string;

  beforeAll(async () => {
    expect(await provision(euUuid, 'amazon-web-services::eu-west-1')).toBe(503); // no eu-west agent, no grant
    await waitFor(
      async () => (await operation(euUuid))?.state === 'dispatched',
      'eu-west provision dispatched',
    );
    opId = (await operation(euUuid)).id;
  });

  it('refuses a result from another region, final or progress, and says who sent it', async () => {
    await publish(
      resultSubject('us-east', euUuid),
      forged(euUuid, opId, { status: 'progress', step: 'pwned' }),
    );
    await publish(resultSubject('us-east', euUuid), forged(euUuid, opId));
    await waitFor(
      async () => (await audits(euUuid, 'result_rejected')).length === 2,
      'two rejections audited',
    );
    // Results are applied concurrently: find each rejection by its status, not its order.
    const rejected = await audits(euUuid, 'result_rejected');
    const progress = rejected.find((a) => a.detail.status === 'progress');
    const final = rejected.find((a) => a.detail.status === 'succeeded');
    expect(progress!.detail).toMatchObject({
      reason: 'wrong_region',
      subject: `results.us-east.${euUuid}`,
      agentId: 'us-east-agent-1',
      status: 'progress',
    });
    expect(final!.detail).toMatchObject({ reason: 'wrong_region', status: 'succeeded' });
    const op = await operation(euUuid);
    expect(op).toMatchObject({ state: 'dispatched', progress: null });
    const r = await stack.plane.pool.query(
      'select state, config_enc, endpoint from resources where uuid = $1',
      [euUuid],
    );
    expect(r.rows[0]).toEqual({ state: 'provisioning', config_enc: null, endpoint: null });
    await waitFor(
      async () => stack.plane.results.counts().rejected.wrong_region === 2,
      'both rejections counted',
    );
    expect(stack.logs.join('')).toMatch(
      /"securityEvent":"agent_result_rejected".*"subject":"results\.us-east\./,
    );
  });

  it('refuses a payload whose uuid or region disagrees with its subject, and a wrong generation or kind', async () => {
    const other = randomUUID();
    await publish(
      resultSubject('eu-west', other),
      forged(euUuid, opId, { agentRegion: 'eu-west' }),
    );
    await publish(
      resultSubject('eu-west', euUuid),
      forged(euUuid, opId, { agentRegion: 'us-east' }),
    );
    await publish(
      resultSubject('eu-west', euUuid),
      forged(euUuid, opId, { agentRegion: 'eu-west', generation: 7 }),
    );
    await publish(
      resultSubject('eu-west', euUuid),
      forged(euUuid, opId, { agentRegion: 'eu-west', kind: 'deprovision' }),
    );
    await publish(
      resultSubject('eu-west', euUuid),
      forged(euUuid, randomUUID(), { agentRegion: 'eu-west' }),
    );
    await waitFor(
      async () => (await audits(euUuid, 'result_rejected')).length === 7,
      'five more rejections',
    );
    const reasons = (await audits(euUuid, 'result_rejected')).slice(2).map((a) => a.detail.reason);
    expect(reasons.sort()).toEqual([
      'generation_mismatch',
      'kind_mismatch',
      'payload_region_mismatch',
      'subject_uuid_mismatch',
      'unknown_operation',
    ]);
    expect((await operation(euUuid)).state).toBe('dispatched');
  });

  it("records the hosting region's own progress step, and refuses one of another generation or kind", async () => {
    const step = (overrides: Partial<Result>): Result =>
      forged(euUuid, opId, { agentRegion: 'eu-west', status: 'progress', ...overrides });
    await publish(resultSubject('eu-west', euUuid), step({ step: 'allocating instance' }));
    await waitFor(
      async () => (await operation(euUuid)).progress === 'allocating instance',
      'progress recorded',
    );
    const before = (await audits(euUuid, 'result_rejected')).length;
    await publish(resultSubject('eu-west', euUuid), step({ step: 'stale', generation: 7 }));
    await publish(resultSubject('eu-west', euUuid), step({ step: 'odd', kind: 'deprovision' }));
    await waitFor(
      async () => (await audits(euUuid, 'result_rejected')).length === before + 2,
      'two progress rejections',
    );
    const reasons = (await audits(euUuid, 'result_rejected')).slice(before);
    expect(reasons.map((a) => a.detail.reason).sort()).toEqual([
      'generation_mismatch',
      'kind_mismatch',
    ]);
    expect(await operation(euUuid)).toMatchObject({
      state: 'dispatched',
      progress: 'allocating instance',
    });
  });

  it('applies the hosting region’s own result', async () => {
    const real = forged(euUuid, opId, {
      agentRegion: 'eu-west',
      agentId: 'eu-west-1',
      config: { TLSREDIS_URL: 'rediss://u1:ok@eu.example.net:6380' },
    });
    await publish(resultSubject('eu-west', euUuid), real);
    await waitFor(
      async () => (await operation(euUuid)).state === 'succeeded',
      'provision succeeded',
    );
    const r = await stack.plane.pool.query(
      'select state, endpoint from resources where uuid = $1',
      [euUuid],
    );
    expect(r.rows[0]).toMatchObject({
      state: 'provisioned',
      endpoint: { host: 'attacker.example.net' },
    });
  });

  it('terminates and records malformed results', async () => {
    const before = stack.plane.results.counts().malformed;
    await publish(`results.eu-west.${euUuid}`, '{"not":"a result"}');
    await waitFor(
      async () => stack.plane.results.counts().malformed === before + 1,
      'malformed counted',
    );
    const recorded = await audits(null, 'result_malformed');
    expect(recorded.at(-1)!.detail).toMatchObject({ subject: `results.eu-west.${euUuid}` });
  });

  it('fails the operation at once, with the reason, on a newer agent’s result it cannot read', async () => {
    const uuid = randomUUID();
    expect(await provision(uuid, 'amazon-web-services::eu-west-1')).toBe(503);
    await waitFor(async () => (await operation(uuid))?.state === 'dispatched', 'dispatched');
    const op = await operation(uuid);
    // Message version 2, as a newer agent would send it: a field renamed, one added.
    const v2 = (overrides: Record<string, unknown>): string =>
      JSON.stringify({
        ...forged(uuid, op.id, { agentRegion: 'eu-west', agentId: 'eu-west-v2' }),
        version: MESSAGE_VERSION + 1,
        config: undefined,
        configVars: { TLSREDIS_URL: 'rediss://u1:x@eu.example.net:6380' },
        ...overrides,
      });
    const before = stack.plane.results.counts().foreignVersion;
    const malformed = stack.plane.results.counts().malformed;
    // Who may say this still holds: from another region, it is refused and changes nothing.
    await publish(resultSubject('us-east', uuid), v2({ agentRegion: 'us-east' }));
    await publish(resultSubject('eu-west', uuid), v2({ status: 'progress', step: 'v2 step' }));
    await waitFor(
      async () => (await audits(uuid, 'result_rejected')).length === 1,
      'the other region refused',
    );
    expect((await audits(uuid, 'result_rejected'))[0]!.detail).toMatchObject({
      reason: 'wrong_region',
    });
    await waitFor(
      async () => stack.plane.results.counts().foreignVersion === before + 2,
      'both counted',
    );
    expect(await operation(uuid)).toMatchObject({ state: 'dispatched', progress: null });

    await publish(resultSubject('eu-west', uuid), v2({}));
    await waitFor(async () => (await operation(uuid)).state === 'failed', 'operation failed');
    const r = await stack.plane.pool.query(
      'select o.last_error, r.state, r.config_enc from operations o join resources r on r.uuid = o.resource_uuid where o.id = $1',
      [op.id],
    );
    expect(r.rows[0]).toMatchObject({ state: 'failed', config_enc: null });
    expect(r.rows[0].last_error).toMatchObject({ code: 'unsupported_result' });
    expect(r.rows[0].last_error.message).toMatch(
      new RegExp(`eu-west-v2 .*message version ${MESSAGE_VERSION + 1}.*upgrade the control plane`),
    );
    expect(stack.plane.results.counts().foreignVersion).toBe(before + 3);
    expect(stack.plane.results.counts().malformed).toBe(malformed);
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metrics).toMatch(/reason="unsupported_version"[^\n]* 3\n/);
  });

  it('leaves a result of an operation kind it does not know to a newer replica, then dead-letters it', async () => {
    const uuid = randomUUID();
    expect(await provision(uuid, 'amazon-web-services::eu-west-1')).toBe(503);
    await waitFor(async () => (await operation(uuid))?.state === 'dispatched', 'dispatched');
    const op = await operation(uuid);
    const malformed = stack.plane.results.counts().malformed;
    const body = { ...forged(uuid, op.id, { agentRegion: 'eu-west' }), kind: 'snapshot' };
    await publish(resultSubject('eu-west', uuid), JSON.stringify(body));
    await waitFor(
      async () => (await audits(uuid, 'result_dead_lettered')).length === 1,
      'dead-lettered after its deliveries',
      15_000,
    );
    expect((await audits(uuid, 'result_dead_lettered'))[0]!.detail).toMatchObject({
      deliveries: 3,
      kind: 'snapshot',
      error: expect.stringContaining('unknown to this release'),
    });
    expect(stack.logs.join('')).toMatch(/operation kind this release does not know/);
    expect(stack.plane.results.counts().malformed).toBe(malformed);
    expect((await operation(uuid)).state).toBe('dispatched');
  });

  it('dead-letters a result that keeps failing to apply, after the delivery limit', async () => {
    const uuid = randomUUID();
    expect(await provision(uuid, 'amazon-web-services::eu-west-1')).toBe(503);
    await waitFor(async () => (await operation(uuid))?.state === 'dispatched', 'dispatched');
    const op = await operation(uuid);
    // A real, repeatable failure inside the apply transaction: Postgres refuses the update.
    await stack.plane.pool.query(
      `create function refuse_op() returns trigger language plpgsql as $$ begin raise exception 'refused for the test'; end $$`,
    );
    await stack.plane.pool.query(
      `create trigger refuse_op before update on operations for each row when (old.id = '${op.id}') execute function refuse_op()`,
    );
    try {
      await publish(
        resultSubject('eu-west', uuid),
        forged(uuid, op.id, { agentRegion: 'eu-west' }),
      );
      await waitFor(
        async () => (await audits(uuid, 'result_dead_lettered')).length === 1,
        'dead letter recorded',
        15_000,
      );
      expect((await audits(uuid, 'result_dead_lettered'))[0]!.detail).toMatchObject({
        deliveries: 3,
        operationId: op.id,
        error: expect.stringContaining('refused for the test'),
      });
      await waitFor(
        async () => stack.plane.results.counts().deadLettered === 2,
        'dead letter counted',
      );
    } finally {
      await stack.plane.pool.query(
        'drop trigger refuse_op on operations; drop function refuse_op()',
      );
    }
    expect((await operation(uuid)).state).toBe('dispatched');
  });
});

describe('failed deprovision', () => {
  async function deprovision(uuid: string): Promise<void> {
    const res = await fetch(`${stack.url}/heroku/resources/${uuid}`, {
      method: 'DELETE',
      headers: { Authorization: DEV_AUTH },
    });
    expect(res.status).toBe(204);
  }

  async function provisioned(): Promise<string> {
    const uuid = randomUUID();
    await provision(uuid, 'amazon-web-services::us-east-1');
    await waitFor(async () => (await operation(uuid))?.state === 'succeeded', 'provisioned');
    return uuid;
  }

  it('is retried with backoff and succeeds when the agent recovers', async () => {
    const uuid = await provisioned();
    fails.set(uuid, 1);
    await deprovision(uuid);
    await waitFor(
      async () => (await operation(uuid, 'deprovision'))?.state === 'succeeded',
      'deprovision succeeded',
      15_000,
    );
    expect((await operation(uuid, 'deprovision')).attempts).toBe(2);
    expect(await audits(uuid, 'deprovision_retry_scheduled')).toHaveLength(1);
    const r = await stack.plane.pool.query('select state from resources where uuid = $1', [uuid]);
    expect(r.rows[0].state).toBe('deprovisioned');
  });

  it('is given up after OPERATION_MAX_ATTEMPTS: the resource is failed, loudly', async () => {
    const uuid = await provisioned();
    fails.set(uuid, 99);
    await deprovision(uuid);
    await waitFor(
      async () => (await operation(uuid, 'deprovision'))?.state === 'failed',
      'deprovision failed',
      15_000,
    );
    expect((await operation(uuid, 'deprovision')).attempts).toBe(3);
    expect(
      usEast.jobs
        .filter((j) => j.resource.uuid === uuid && j.kind === 'deprovision')
        .map((j) => j.attempt),
    ).toEqual([1, 2, 3]);
    expect(await audits(uuid, 'deprovision_retry_scheduled')).toHaveLength(2);
    const r = await stack.plane.pool.query('select state from resources where uuid = $1', [uuid]);
    expect(r.rows[0].state).toBe('failed');
    expect(stack.logs.join('')).toContain('deprovision failed: retry budget exhausted');
    fails = new Map();
  });
});
