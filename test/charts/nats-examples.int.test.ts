/**
 * The example NATS topology of deploy/nats.md, run for real: the hub config and a region's
 * leaf config from deploy/examples/nats/ (TLS and cluster routes stripped, ports and store
 * made private), with the agent's and the control plane's own stream/consumer code.
 * Checks that a region's credentials reach only that region's subjects, on the leaf and at
 * the hub.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, connect, StringCodec, type NatsConnection } from 'nats';
import { ensureStreams as ensureControlPlaneStreams } from '../../shared/src/streams.js';
import { requireBinary } from '../../shared/src/binaries.js';
import { freePort, waitFor } from '../../shared/src/ports.js';
import { ensureAgentStreams, ensureJobsConsumer } from '../../region-agent/src/agent/streams.js';
import { JOBS_STREAM, RESULTS_STREAM, jobSubject, resultSubject } from '../../shared/src/subjects.js';
import { EXAMPLES_DIR } from './helm.js';

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

async function startServer(bin: string, config: string, env: Record<string, string>): Promise<Server> {
  const check = spawnSync(bin, ['-t', '-c', config], { encoding: 'utf8', env: { ...process.env, ...env } });
  if (check.status !== 0) throw new Error(`${config} is invalid:\n${check.stderr}${check.stdout}`);
  const port = Number(/127\.0\.0\.1:(\d+)/.exec(readFileSync(config, 'utf8'))![1]);
  const child: ChildProcess = spawn(bin, ['-c', config], { stdio: 'ignore', env: { ...process.env, ...env } });
  await waitFor(async () => {
    const nc = await connect({ port, user: 'nobody', pass: 'x', reconnect: false }).catch((e: Error) => e);
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

async function agentOn(server: Server, user = 'agent-us-east'): Promise<NatsConnection> {
  const nc = await connect({ port: server.port, user, pass: SECRETS.AGENT_PASSWORD });
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') permissionErrors.push(String(s.data));
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
  writeFileSync(join(dir, 'hub.conf'), localize(readFileSync(join(NATS_DIR, 'hub.conf'), 'utf8'), hubPorts, join(dir, 'js')));
  const leafText = readFileSync(join(NATS_DIR, 'leaf-us-east.conf'), 'utf8');
  writeFileSync(join(dir, 'leaf.conf'), localize(leafText, { client: await freePort(), http: await freePort() }, ''));
  // A compromised region: its leaf lets the local user do anything. Only the hub's
  // permissions for leaf-us-east stand between it and the other regions.
  const rogue = leafText
    .replace('server_name: leaf-us-east', 'server_name: leaf-us-east-rogue')
    .replace('include "permissions-us-east.conf"', '')
    .replace('permissions: $REGION_US_EAST', 'permissions: { publish: ">", subscribe: ">" }');
  expect(rogue).not.toBe(leafText);
  writeFileSync(join(dir, 'rogue.conf'), localize(rogue, { client: await freePort(), http: await freePort() }, ''));

  const hubEnv = { ...SECRETS, SERVER_NAME: 'hub-0' };
  hub = await startServer(bin, join(dir, 'hub.conf'), hubEnv);
  const leafEnv = {
    ...SECRETS,
    HUB_LEAF_URL: `nats://leaf-us-east:${SECRETS.LEAF_US_EAST_PASSWORD}@127.0.0.1:${hubPorts.leaf}`,
  };
  leaf = await startServer(bin, join(dir, 'leaf.conf'), leafEnv);
  rogueLeaf = await startServer(bin, join(dir, 'rogue.conf'), leafEnv);
  await leafsConnected(hubPorts.http, 2);
  controlPlane = await connect({ port: hub.port, user: 'control-plane', pass: SECRETS.CONTROL_PLANE_PASSWORD });
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
  it.each(['eu-west', 'ap-northeast'])('gives %s the same permissions as us-east, for its own region', (region) => {
    const read = (r: string): string => readFileSync(join(NATS_DIR, `permissions-${r}.conf`), 'utf8');
    const upper = (r: string): string => r.toUpperCase().replace(/-/g, '_');
    const expected = read('us-east').replace(/us-east/g, region).replace(/US_EAST/g, upper(region));
    expect(read(region)).toBe(expected);
    const leafConf = (r: string): string => readFileSync(join(NATS_DIR, `leaf-${r}.conf`), 'utf8');
    expect(leafConf(region)).toBe(leafConf('us-east').replace(/us-east/g, region).replace(/US_EAST/g, upper(region)));
    expect(readFileSync(join(NATS_DIR, 'hub.conf'), 'utf8')).toContain(`permissions: $REGION_${upper(region)}`);
  });

  it('lets the us-east agent on its leaf consume us-east jobs and publish us-east results', async () => {
    const js = controlPlane.jetstream();
    await js.publish(jobSubject('us-east', 'provision'), sc.encode('job-1'), { msgID: 'job-1' });
    const agent = await agentOn(leaf);
    try {
      const jsm = await agent.jetstreamManager();
      await ensureAgentStreams(jsm); // the streams exist: info only
      const name = await ensureJobsConsumer(jsm, { region: 'us-east', ackWaitMs: 30_000, maxDeliver: 5 });
      const consumer = await agent.jetstream().consumers.get(JOBS_STREAM, name);
      const msg = await consumer.next({ expires: 5_000 });
      expect(msg && sc.decode(msg.data)).toBe('job-1');
      await msg!.ackAck();
      await agent.jetstream().publish(resultSubject('us-east', 'r1'), sc.encode('done'), { msgID: 'r1' });
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
        agent.jetstream().publish(resultSubject('eu-west', 'r2'), sc.encode('x'), { timeout: 1_000 }),
      ).rejects.toThrow(/Permissions Violation/);
      await expect(
        agent.jetstream().publish(jobSubject('us-east', 'deprovision'), sc.encode('x'), { timeout: 1_000 }),
      ).rejects.toThrow(/Permissions Violation/);
    } finally {
      await agent.close();
    }
    expect(permissionErrors.length).toBeGreaterThan(0);
    const cp = await controlPlane.jetstreamManager();
    expect((await cp.consumers.list(JOBS_STREAM).next()).map((c) => c.name)).not.toContain('agent-eu-west');
    expect(await streamCount(JOBS_STREAM, 'jobs.eu-west.provision')).toBe(1);
  });

  it('enforces the region at the hub even when the leaf itself lets everything through', async () => {
    const agent = await agentOn(rogueLeaf);
    try {
      // The rogue leaf accepts these locally; the hub's leaf-us-east permissions drop them.
      agent.publish('results.eu-west.r3', sc.encode('forged'));
      agent.publish('jobs.eu-west.deprovision', sc.encode('forged'));
      await agent.flush();
      await expect(agent.jetstreamManager().then((jsm) => jsm.streams.delete(JOBS_STREAM))).rejects.toThrow();
      // Its own region still works through the hub.
      agent.publish('results.us-east.r4', sc.encode('ok'));
      await agent.flush();
    } finally {
      await agent.close();
    }
    await waitFor(async () => (await streamCount(RESULTS_STREAM, 'results.us-east.r4')) === 1, 'us-east result', 5_000);
    expect(await streamCount(RESULTS_STREAM, 'results.eu-west.r3')).toBe(0);
    expect(await streamCount(JOBS_STREAM, 'jobs.eu-west.deprovision')).toBe(0);
  });
});
