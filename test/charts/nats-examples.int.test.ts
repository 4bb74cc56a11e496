/**
 * The example NATS topology of deploy/nats.md, run for real: the hub config and a region's
 * leaf config from deploy/examples/nats/ (TLS and cluster routes stripped, ports and store
 * made private), with the agent's and the control plane's own stream/consumer code.
 * Checks that a region's credentials reach only that region's subjects, on the leaf and at
 * the hub.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, connect, StringCodec, type NatsConnection } from 'nats';
import {
  agentInboxPrefix,
  connectNats,
  CONTROL_PLANE_INBOX_PREFIX,
} from '../../shared/src/nats.js';
import { ensureStreams as ensureControlPlaneStreams } from '../../shared/src/streams.js';
import { requireBinary } from '../../shared/src/binaries.js';
import { freePort, waitFor } from '../../shared/src/ports.js';
import { ensureAgentStreams, ensureJobsConsumer } from '../../region-agent/src/agent/streams.js';
import {
  JOBS_STREAM,
  RESULTS_STREAM,
  jobSubject,
  resultSubject,
} from '../../shared/src/subjects.js';
import { EXAMPLES_DIR } from './helm.js';
import { encodeMessage, MESSAGE_VERSION, type Result } from '../../shared/src/messages.js';
import { DEV_AUTH, startStack } from '../support/control-plane.js';

const NATS_DIR = join(EXAMPLES_DIR, 'nats');
const sc = StringCodec();

const SECRETS = {
  LEAF_US_EAST_PASSWORD: 'leaf-us-east-pw',
  LEAF_EU_WEST_PASSWORD: 'leaf-eu-west-pw',
  LEAF_AP_NORTHEAST_PASSWORD: 'leaf-ap-northeast-pw',
  CONTROL_PLANE_PASSWORD: 'control-plane-pw',
  SYS_PASSWORD: 'sys-pw',
  AGENT_PASSWORD: 'agent-pw',
};

interface Ports {
  client: number;
  http: number;
  leaf?: number;
}

/** The example config made runnable on loopback: no TLS files, no routes, private ports. */
function localize(text: string, ports: Ports, storeDir: string): string {
  let out = text
    .replace(/\n\s*tls \{[^}]*\}/g, '')
    .replace(/\ncluster \{[\s\S]*?\n\}\n/, '\n')
    .replace('/data/jetstream', storeDir)
    .replace('0.0.0.0:4222', `127.0.0.1:${ports.client}`)
    .replace('0.0.0.0:8222', `127.0.0.1:${ports.http}`);
  if (ports.leaf) out = out.replace('0.0.0.0:7422', `127.0.0.1:${ports.leaf}`);
  return out;
}

interface Server {
  port: number;
  stop(): Promise<void>;
}

async function startServer(
  bin: string,
  config: string,
  env: Record<string, string>,
): Promise<Server> {
  const check = spawnSync(bin, ['-t', '-c', config], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  if (check.status !== 0) throw new Error(`${config} is invalid:\n${check.stderr}${check.stdout}`);
  const port = Number(/127\.0\.0\.1:(\d+)/.exec(readFileSync(config, 'utf8'))![1]);
  const child: ChildProcess = spawn(bin, ['-c', config], {
    stdio: 'ignore',
    env: { ...process.env, ...env },
  });
  await waitFor(async () => {
    const nc = await connect({ port, user: 'nobody', pass: 'x', reconnect: false }).catch(
      (e: Error) => e,
    );
    if (nc instanceof Error) return /Authorization/i.test(nc.message);
    await nc.close();
    return true;
  }, `nats-server ${config}`);
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

let dir: string;
let hub: Server;
let leaf: Server;
let rogueLeaf: Server;
let controlPlane: NatsConnection;
const permissionErrors: string[] = [];

/** The us-east agent as region-agent/src/main.ts connects: its own inbox prefix. */
async function agentOn(server: Server, user = 'agent-us-east'): Promise<NatsConnection> {
  const nc = await connectNats({
    url: `nats://127.0.0.1:${server.port}`,
    name: user,
    user,
    password: SECRETS.AGENT_PASSWORD,
    inboxPrefix: agentInboxPrefix(['us-east']),
  });
  void (async () => {
    for await (const s of nc.status())
      if (s.type === 'error') permissionErrors.push(String(s.data));
  })();
  return nc;
}

async function leafsConnected(hubHttpPort: number, count: number): Promise<void> {
  // A leaf forwards interest once connected: wait until the hub sees every leaf.
  await waitFor(async () => {
    const res = await fetch(`http://127.0.0.1:${hubHttpPort}/leafz`);
    const body = (await res.json()) as { leafnodes?: number };
    return (body.leafnodes ?? 0) >= count;
  }, 'leaf connections');
}

beforeAll(async () => {
  const bin = requireBinary('nats-server');
  dir = mkdtempSync(join(tmpdir(), 'nats-examples-'));
  const hubPorts = { client: await freePort(), http: await freePort(), leaf: await freePort() };
  for (const f of readdirSync(NATS_DIR).filter((n) => n.startsWith('permissions-'))) {
    writeFileSync(join(dir, f), readFileSync(join(NATS_DIR, f)));
  }
  writeFileSync(
    join(dir, 'hub.conf'),
    localize(readFileSync(join(NATS_DIR, 'hub.conf'), 'utf8'), hubPorts, join(dir, 'js')),
  );
  const leafText = readFileSync(join(NATS_DIR, 'leaf-us-east.conf'), 'utf8');
  writeFileSync(
    join(dir, 'leaf.conf'),
    localize(leafText, { client: await freePort(), http: await freePort() }, ''),
  );
  // A compromised region: its leaf lets the local user do anything. Only the hub's
  // permissions for leaf-us-east stand between it and the other regions.
  const rogue = leafText
    .replace('server_name: leaf-us-east', 'server_name: leaf-us-east-rogue')
    .replace('include "permissions-us-east.conf"', '')
    .replace('permissions: $REGION_US_EAST', 'permissions: { publish: ">", subscribe: ">" }');
  expect(rogue).not.toBe(leafText);
  writeFileSync(
    join(dir, 'rogue.conf'),
    localize(rogue, { client: await freePort(), http: await freePort() }, ''),
  );

  const hubEnv = { ...SECRETS, SERVER_NAME: 'hub-0' };
  hub = await startServer(bin, join(dir, 'hub.conf'), hubEnv);
  const leafEnv = {
    ...SECRETS,
    HUB_LEAF_URL: `nats://leaf-us-east:${SECRETS.LEAF_US_EAST_PASSWORD}@127.0.0.1:${hubPorts.leaf}`,
  };
  leaf = await startServer(bin, join(dir, 'leaf.conf'), leafEnv);
  rogueLeaf = await startServer(bin, join(dir, 'rogue.conf'), leafEnv);
  await leafsConnected(hubPorts.http, 2);
  controlPlane = await connectNats({
    url: `nats://127.0.0.1:${hub.port}`,
    name: 'control-plane',
    user: 'control-plane',
    password: SECRETS.CONTROL_PLANE_PASSWORD,
    inboxPrefix: CONTROL_PLANE_INBOX_PREFIX,
  });
  await ensureControlPlaneStreams(await controlPlane.jetstreamManager());
}, 60_000);

afterAll(async () => {
  await controlPlane?.drain();
  await rogueLeaf?.stop();
  await leaf?.stop();
  await hub?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function streamCount(stream: string, subject: string): Promise<number> {
  const jsm = await controlPlane.jetstreamManager();
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

describe('deploy/examples/nats', () => {
  it.each(['eu-west', 'ap-northeast'])(
    'gives %s the same permissions as us-east, for its own region',
    (region) => {
      const read = (r: string): string =>
        readFileSync(join(NATS_DIR, `permissions-${r}.conf`), 'utf8');
      const upper = (r: string): string => r.toUpperCase().replace(/-/g, '_');
      const expected = read('us-east')
        .replace(/us-east/g, region)
        .replace(/US_EAST/g, upper(region));
      expect(read(region)).toBe(expected);
      const leafConf = (r: string): string =>
        readFileSync(join(NATS_DIR, `leaf-${r}.conf`), 'utf8');
      expect(leafConf(region)).toBe(
        leafConf('us-east')
          .replace(/us-east/g, region)
          .replace(/US_EAST/g, upper(region)),
      );
      expect(readFileSync(join(NATS_DIR, 'hub.conf'), 'utf8')).toContain(
        `permissions: $REGION_${upper(region)}`,
      );
    },
  );

  it('lets the us-east agent on its leaf consume us-east jobs and publish us-east results', async () => {
    const js = controlPlane.jetstream();
    await js.publish(jobSubject('us-east', 'provision'), sc.encode('job-1'), { msgID: 'job-1' });
    const agent = await agentOn(leaf);
    try {
      const jsm = await agent.jetstreamManager();
      await ensureAgentStreams(jsm); // the streams exist: info only
      const name = await ensureJobsConsumer(jsm, {
        region: 'us-east',
        ackWaitMs: 30_000,
        maxDeliver: 5,
      });
      const consumer = await agent.jetstream().consumers.get(JOBS_STREAM, name);
      const msg = await consumer.next({ expires: 5_000 });
      expect(msg && sc.decode(msg.data)).toBe('job-1');
      await msg!.ackAck();
      await agent
        .jetstream()
        .publish(resultSubject('us-east', 'r1'), sc.encode('done'), { msgID: 'r1' });
      agent.publish('agents.us-east.heartbeat', sc.encode('{}'));
      await agent.flush();
      expect(await streamCount(RESULTS_STREAM, 'results.us-east.r1')).toBe(1);
    } finally {
      await agent.close();
    }
  });

  it('denies the us-east agent another region, job publishing and stream management', async () => {
    const js = controlPlane.jetstream();
    await js.publish(jobSubject('eu-west', 'provision'), sc.encode('job-eu'), { msgID: 'job-eu' });
    const agent = await agentOn(leaf);
    try {
      const jsm = await agent.jetstreamManager({ timeout: 1_500 }); // denied requests time out
      await expect(
        jsm.consumers.add(JOBS_STREAM, {
          durable_name: 'agent-eu-west',
          filter_subject: 'jobs.eu-west.>',
          ack_policy: AckPolicy.Explicit,
        }),
      ).rejects.toThrow();
      await expect(jsm.streams.delete(JOBS_STREAM)).rejects.toThrow();
      await expect(
        agent
          .jetstream()
          .publish(resultSubject('eu-west', 'r2'), sc.encode('x'), { timeout: 1_000 }),
      ).rejects.toThrow(/Permissions Violation/);
      await expect(
        agent
          .jetstream()
          .publish(jobSubject('us-east', 'deprovision'), sc.encode('x'), { timeout: 1_000 }),
      ).rejects.toThrow(/Permissions Violation/);
    } finally {
      await agent.close();
    }
    expect(permissionErrors.length).toBeGreaterThan(0);
    const cp = await controlPlane.jetstreamManager();
    expect((await cp.consumers.list(JOBS_STREAM).next()).map((c) => c.name)).not.toContain(
      'agent-eu-west',
    );
    expect(await streamCount(JOBS_STREAM, 'jobs.eu-west.provision')).toBe(1);
  });

  it('enforces the region at the hub even when the leaf itself lets everything through', async () => {
    const agent = await agentOn(rogueLeaf);
    try {
      // The rogue leaf accepts these locally; the hub's leaf-us-east permissions drop them.
      agent.publish('results.eu-west.r3', sc.encode('forged'));
      agent.publish('jobs.eu-west.deprovision', sc.encode('forged'));
      await agent.flush();
      await expect(
        agent.jetstreamManager().then((jsm) => jsm.streams.delete(JOBS_STREAM)),
      ).rejects.toThrow();
      // Its own region still works through the hub.
      agent.publish('results.us-east.r4', sc.encode('ok'));
      await agent.flush();
    } finally {
      await agent.close();
    }
    await waitFor(
      async () => (await streamCount(RESULTS_STREAM, 'results.us-east.r4')) === 1,
      'us-east result',
      5_000,
    );
    expect(await streamCount(RESULTS_STREAM, 'results.eu-west.r3')).toBe(0);
    expect(await streamCount(JOBS_STREAM, 'jobs.eu-west.deprovision')).toBe(0);
  });

  it('answers the control plane’s requests from the us-east leaf, and reaches no other inbox', async () => {
    const agent = await agentOn(leaf);
    const eu = await connect({
      port: hub.port,
      user: 'leaf-eu-west',
      pass: SECRETS.LEAF_EU_WEST_PASSWORD,
    });
    const euInbox: string[] = [];
    eu.subscribe('_INBOX_eu-west.anything', {
      callback: (_err, m) => euInbox.push(sc.decode(m.data)),
    });
    await eu.flush();
    const violationsBefore = permissionErrors.length;
    try {
      const sub = agent.subscribe('agents.us-east.inventory.request', {
        callback: (_err, m) => m.respond(sc.encode('inventory')),
      });
      await agent.flush();
      await waitFor(
        async () => {
          const reply = await controlPlane
            .request('agents.us-east.inventory.request', sc.encode(''), { timeout: 1_000 })
            .catch(() => undefined);
          return reply !== undefined && sc.decode(reply.data) === 'inventory';
        },
        'inventory reply through leaf and hub',
        10_000,
      );
      sub.unsubscribe();
      // Other inboxes (another region's agent, any client's default inbox) are closed to it.
      agent.publish('_INBOX.anything', sc.encode('x'));
      agent.publish('_INBOX_eu-west.anything', sc.encode('x'));
      await agent.flush();
      await eu.flush();
    } finally {
      await agent.close();
      await eu.close();
    }
    expect(euInbox).toEqual([]);
    expect(permissionErrors.length - violationsBefore).toBe(2);
  });

  it('never lets the us-east agent read an eu-west job, by any subject', async () => {
    const spy = await agentOn(leaf);
    const seen: string[] = [];
    const denied: string[] = [];
    for (const subject of [
      '>',
      '_INBOX.>',
      '_INBOX_eu-west.>',
      'jobs.>',
      'jobs.eu-west.>',
      '$JS.>',
      '$JS.hub.>',
      '$JS.API.>',
    ]) {
      const sub = spy.subscribe(subject);
      void (async () => {
        for await (const m of sub) seen.push(m.subject);
      })().catch((e: Error) => denied.push(e.message));
    }
    await spy.flush();
    const api = (subject: string): Promise<unknown> =>
      spy.request(subject, sc.encode('{"batch":1}'), { timeout: 1_000 }).catch((e: Error) => e);
    const eu = await connectNats({
      url: `nats://127.0.0.1:${hub.port}`,
      name: 'eu-west agent',
      user: 'leaf-eu-west',
      password: SECRETS.LEAF_EU_WEST_PASSWORD,
      inboxPrefix: agentInboxPrefix(['eu-west']),
    });
    try {
      await controlPlane
        .jetstream()
        .publish(jobSubject('eu-west', 'change_plan'), sc.encode('eu-secret-job'), {
          msgID: 'eu-secret-job',
        });
      // The JetStream API paths to another region's messages are closed too.
      for (const subject of [
        '$JS.API.CONSUMER.MSG.NEXT.JOBS.agent-eu-west',
        '$JS.API.STREAM.MSG.GET.JOBS',
        '$JS.API.DIRECT.GET.JOBS',
        '$JS.API.CONSUMER.CREATE.JOBS.spy',
      ]) {
        expect(await api(subject)).toBeInstanceOf(Error);
      }
      const name = await ensureJobsConsumer(await eu.jetstreamManager(), {
        region: 'eu-west',
        ackWaitMs: 30_000,
        maxDeliver: 5,
      });
      const consumer = await eu.jetstream().consumers.get(JOBS_STREAM, name);
      let got = '';
      while (got !== 'eu-secret-job') {
        const msg = await consumer.next({ expires: 5_000 });
        if (!msg) throw new Error('the eu-west agent got no job');
        got = sc.decode(msg.data);
        msg.ack();
      }
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await eu.close();
      await spy.close();
    }
    expect(seen).toEqual([]);
    expect(denied.filter((e) => /Permissions Violation for Subscription/.test(e))).toHaveLength(8);
  });

  it('does not apply a result the us-east agent forges for an eu-west add-on', async () => {
    const stack = await startStack({
      NATS_URL: `nats://127.0.0.1:${hub.port}`,
      NATS_USER: 'control-plane',
      NATS_PASSWORD: SECRETS.CONTROL_PLANE_PASSWORD,
      HARD_BUDGET_MS: '0',
    });
    const agent = await agentOn(leaf);
    try {
      const uuid = randomUUID();
      const res = await fetch(`${stack.url}/heroku/resources`, {
        method: 'POST',
        headers: { Authorization: DEV_AUTH, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          uuid,
          name: 'eu-app',
          plan: 'standard',
          region: 'amazon-web-services::eu-west-1',
        }),
      });
      expect(res.status).toBe(503); // no eu-west agent answers; the operation stays open
      const op = async (): Promise<{ id: string; state: string }> =>
        (
          await stack.plane.pool.query(
            'select id, state from operations where resource_uuid = $1',
            [uuid],
          )
        ).rows[0];
      await waitFor(async () => (await op())?.state === 'dispatched', 'eu-west job dispatched');
      // Even knowing the operation id, the only subject it may publish on is its own region's.
      const forged: Result = {
        version: MESSAGE_VERSION,
        operationId: (await op()).id,
        uuid,
        kind: 'provision',
        generation: 1,
        agentRegion: 'us-east',
        agentId: 'us-east-1',
        status: 'succeeded',
        config: { TLSREDIS_URL: 'rediss://u9:stolen@attacker.example.net:6380' },
        at: new Date().toISOString(),
      };
      await agent.jetstream().publish(resultSubject('us-east', uuid), encodeMessage(forged));
      await expect(
        agent
          .jetstream()
          .publish(
            resultSubject('eu-west', uuid),
            encodeMessage({ ...forged, agentRegion: 'eu-west' }),
            { timeout: 1_000 },
          ),
      ).rejects.toThrow(/Permissions Violation/);
      await waitFor(
        async () => (stack.plane.results.counts().rejected.wrong_region ?? 0) === 1,
        'forgery refused',
      );
      expect((await op()).state).toBe('dispatched');
      const r = await stack.plane.pool.query('select config_enc from resources where uuid = $1', [
        uuid,
      ]);
      expect(r.rows[0].config_enc).toBeNull();
    } finally {
      await agent.close();
      await stack.stop();
    }
  });
});
