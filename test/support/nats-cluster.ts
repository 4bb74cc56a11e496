/**
 * A real three-node nats-server JetStream cluster on loopback: distinct `server_name`s, full
 * mesh routes, a store dir per node in tmp. A node can be SIGKILLed and started again on the
 * same ports and store, the way a crashed pod comes back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import { stopChild } from '../../deploy/local/postgres.js';
import { requireBinary } from '../../shared/src/binaries.js';
import { canConnect, freePort, waitFor } from '../../shared/src/ports.js';

export interface NatsCluster {
  /** Client URLs, one per node. */
  urls: string[];
  /** All three, comma-separated, as NATS_URL takes them. */
  url: string;
  kill(node: number): Promise<void>;
  restart(node: number): Promise<void>;
  stop(): Promise<void>;
}

interface Node {
  name: string;
  port: number;
  clusterPort: number;
  dir: string;
  child?: ChildProcess;
}

function nodeConfig(node: Node, routes: number[]): string {
  return [
    `server_name: ${node.name}`,
    `listen: 127.0.0.1:${node.port}`,
    `jetstream { store_dir: "${join(node.dir, 'store')}" }`,
    'cluster {',
    '  name: test-cluster',
    `  listen: 127.0.0.1:${node.clusterPort}`,
    `  routes: [${routes.map((p) => `nats-route://127.0.0.1:${p}`).join(', ')}]`,
    '}',
    '',
  ].join('\n');
}

/** Answers JetStream API calls once the cluster has a meta leader. */
async function jetStreamReady(url: string): Promise<boolean> {
  const nc = await connect({ servers: url, reconnect: false, timeout: 1_000 });
  try {
    await (await nc.jetstreamManager({ timeout: 1_000 })).getAccountInfo();
    return true;
  } finally {
    await nc.close();
  }
}

export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const bin = requireBinary('nats-server');
  const root = mkdtempSync(join(tmpdir(), 'cp-test-nats-cluster-'));
  const nodes: Node[] = [];
  for (let i = 0; i < size; i++) {
    const dir = join(root, `n${i + 1}`);
    mkdirSync(dir, { recursive: true });
    nodes.push({ name: `n${i + 1}`, port: await freePort(), clusterPort: await freePort(), dir });
  }
  for (const n of nodes) {
    const routes = nodes.filter((o) => o !== n).map((o) => o.clusterPort);
    writeFileSync(join(n.dir, 'nats.conf'), nodeConfig(n, routes));
  }
  const urls = nodes.map((n) => `nats://127.0.0.1:${n.port}`);

  async function run(i: number): Promise<void> {
    const n = nodes[i]!;
    n.child = spawn(bin, ['-c', join(n.dir, 'nats.conf')], { stdio: 'ignore' });
    await waitFor(() => canConnect(n.port), `nats node ${n.name}`, 15_000);
  }
  await Promise.all(nodes.map((_, i) => run(i)));
  await waitFor(() => jetStreamReady(urls[0]!), 'JetStream meta leader', 30_000, 250);

  return {
    urls,
    url: urls.join(','),
    async kill(i) {
      const child = nodes[i]!.child;
      if (child) await stopChild(child, 'SIGKILL');
    },
    async restart(i) {
      await run(i);
      await waitFor(() => jetStreamReady(urls[i]!), `JetStream on ${nodes[i]!.name}`, 30_000, 250);
    },
    async stop() {
      await Promise.all(nodes.map((n) => (n.child ? stopChild(n.child) : Promise.resolve())));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
