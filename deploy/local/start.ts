/**
 * `npm start`: the whole local stack on one machine. Private Postgres and nats-server
 * (data under .local/, unless DATABASE_URL / NATS_URL are set), the Heroku simulator on
 * PORT+1 and its front door on PORT+2, the control plane on PORT, and one local-driver
 * region agent serving every agent region in the catalog. The connection settings go to
 * .local/stack.json for the project's other commands. Ctrl-C stops all but the instances
 * (agents re-adopt them); `npm run stop` stops those too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadCatalog } from '../../control-plane/src/catalog/load.js';
import { readDevManifest } from '../../control-plane/src/config.js';
import { startNats, type NatsServer } from './nats.js';
import { startPostgres, stopChild, type PostgresServer } from './postgres.js';
import { waitFor } from '../../shared/src/ports.js';
import { startHerokuFront, type HerokuFront } from './heroku-front.js';
import { prettyPipe, wantsJson } from './pretty.js';
import { howToProvision } from './instructions.js';
import { localDataDir, removeLocalStack, writeLocalStack } from '../../shared/src/local-stack.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dataDir = localDataDir(process.env);
const agentDataDir = process.env.AGENT_DATA_DIR ?? join(dataDir, 'agent');
const port = Number(process.env.PORT ?? 5000);
const children: ChildProcess[] = [];
const pids: Record<string, number> = {};
const json = wantsJson(process.env);
let pg: PostgresServer | undefined;
let nats: NatsServer | undefined;
let front: HerokuFront | undefined;

const step = (n: number, total: number, text: string): void => {
  process.stdout.write(`[${n}/${total}] ${text}\n`);
};

function run(name: string, script: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), script], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', json ? 'inherit' : 'pipe', json ? 'inherit' : 'pipe'],
  });
  if (child.stdout) prettyPipe(child.stdout, process.stdout);
  if (child.stderr) prettyPipe(child.stderr, process.stderr);
  if (child.pid) pids[name] = child.pid;
  child.on('exit', (code, signal) => {
    if (!stopping) {
      process.stderr.write(`${name} exited (${signal ?? code}); stopping the stack\n`);
      void shutdown(1);
    }
  });
  children.push(child);
  return child;
}

let stopping = false;
async function shutdown(code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  process.stdout.write('stopping the local stack…\n');
  await Promise.all(children.map((c) => stopChild(c, 'SIGTERM')));
  await front?.close();
  await nats?.stop();
  await pg?.stop();
  removeLocalStack(dataDir);
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

const TOTAL = 6;
const log = (line: string): void => void process.stdout.write(`      ${line}\n`);

async function startDatabase(): Promise<string> {
  if (process.env.DATABASE_URL) {
    step(1, TOTAL, 'PostgreSQL: using DATABASE_URL');
    return process.env.DATABASE_URL;
  }
  step(1, TOTAL, `PostgreSQL: starting a private server (data in ${join(dataDir, 'postgres')})`);
  pg = await startPostgres(join(dataDir, 'postgres'), log);
  if (pg.pid) pids.postgres = pg.pid;
  return pg.url();
}

async function startMessaging(): Promise<string> {
  if (process.env.NATS_URL) {
    step(2, TOTAL, 'NATS: using NATS_URL');
    return process.env.NATS_URL;
  }
  step(
    2,
    TOTAL,
    `NATS: starting a private nats-server with JetStream (data in ${join(dataDir, 'nats')})`,
  );
  nats = await startNats(join(dataDir, 'nats'), log);
  if (nats.pid) pids.nats = nats.pid;
  return nats.url;
}

/** The Heroku URLs the control plane is given: the simulator's, unless set from outside. */
async function startHeroku(
  auth: { id: string; password: string },
  ssoSalt: string,
): Promise<Record<string, string>> {
  if (process.env.HEROKU_API_URL || process.env.HEROKU_ID_URL) {
    step(3, TOTAL, 'Heroku: using HEROKU_API_URL / HEROKU_ID_URL');
    return {};
  }
  front = await startHerokuFront({
    controlPlaneUrl: `http://127.0.0.1:${port}`,
    auth,
    clientSecret: 'dev-oauth-client-secret',
    ssoSalt,
    simPort: port + 1,
    frontPort: port + 2,
    stateFile: join(dataDir, 'heroku-sim', 'state.json'),
  });
  step(3, TOTAL, 'Heroku simulator');
  log(`${front.url}  front door: call this one to provision, change plan, deprovision`);
  log(`${front.sim.url}  Heroku's APIs, called by the control plane (HEROKU_API_URL)`);
  return { HEROKU_API_URL: front.sim.url, HEROKU_ID_URL: front.sim.url };
}

async function startControlPlane(env: Record<string, string>): Promise<void> {
  step(4, TOTAL, `control plane: starting on http://127.0.0.1:${port}`);
  run('control plane', 'control-plane/src/main.ts', {
    ...env,
    PORT: String(port),
    HOST: process.env.HOST ?? '127.0.0.1',
    PRIVATE_SPACE_LOOKUP:
      process.env.PRIVATE_SPACE_LOOKUP ?? (front ? 'platform-api' : 'assume-common-runtime'),
    // Locally, drift shows within half a minute and orphans go after one (production: 300 / 3600).
    RECONCILE_INTERVAL_S: process.env.RECONCILE_INTERVAL_S ?? '30',
    ORPHAN_GRACE_S: process.env.ORPHAN_GRACE_S ?? '60',
  });
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok,
    'control plane /readyz',
    60_000,
    200,
  );
}

/** LOCAL_AGENT_REGIONS (comma list, may be empty) leaves the other regions to agents of one's own. */
function localAgentRegions(): string[] {
  const only = process.env.LOCAL_AGENT_REGIONS;
  if (only !== undefined)
    return only
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean);
  return loadCatalog(process.env.CATALOG_PATH || undefined).agentRegions.map((a) => a.name);
}

function startRegionAgent(natsUrl: string): void {
  const regions = localAgentRegions();
  if (regions.length === 0) {
    step(5, TOTAL, 'region agent: none (LOCAL_AGENT_REGIONS is empty)');
    return;
  }
  if (!existsSync(join(root, 'region-agent/src/main.ts'))) {
    step(5, TOTAL, 'region agent: not built yet (region-agent/src/main.ts missing)');
    return;
  }
  step(5, TOTAL, `region agent (local driver): serving ${regions.join(', ')}`);
  run('region agent', 'region-agent/src/main.ts', {
    NATS_URL: natsUrl,
    AGENT_REGION: regions.join(','),
    AGENT_DRIVER: 'local',
    AGENT_DATA_DIR: agentDataDir,
    // /livez, /readyz and /metrics of the agent (README "The local stack").
    HEALTH_PORT: String(port + 3),
  });
}

/** What the project's other commands need to reach this stack (see shared/src/local-stack.ts). */
function writeSettings(env: Record<string, string>): string {
  return writeLocalStack(dataDir, {
    version: 1,
    pid: process.pid,
    startedAt: new Date().toISOString(),
    env: { ...env, CONTROL_PLANE_URL: `http://127.0.0.1:${port}` },
    urls: {
      controlPlane: `http://127.0.0.1:${port}`,
      regionAgent: `http://127.0.0.1:${port + 3}`,
      ...(front ? { herokuFront: front.url, herokuSim: front.sim.url } : {}),
    },
    pids,
    agentDataDir,
  });
}

async function main(): Promise<void> {
  const databaseUrl = await startDatabase();
  const natsUrl = await startMessaging();
  const manifest = readDevManifest();
  const auth = { id: manifest.id, password: manifest.api.password };
  const herokuEnv = await startHeroku(auth, process.env.SSO_SALT ?? manifest.api.sso_salt);
  const env = { ...herokuEnv, DATABASE_URL: databaseUrl, NATS_URL: natsUrl };
  await startControlPlane(env);
  startRegionAgent(natsUrl);
  const settings = writeSettings(env);
  step(6, TOTAL, `ready; connection settings for the other commands in ${settings}`);
  process.stdout.write(
    howToProvision({ auth, controlPlaneUrl: `http://127.0.0.1:${port}`, frontUrl: front?.url }),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`local stack failed: ${(err as Error).stack ?? String(err)}\n`);
  void shutdown(1);
});
