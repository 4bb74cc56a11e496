/** Starts an in-process control plane on a per-file database and nats-server. */
import { Writable } from 'node:stream';
import { createLogger } from '../../shared/src/logger.js';
import {
  loadConfig,
  readDevManifest,
  type ControlPlaneConfig,
} from '../../control-plane/src/config.js';
import {
  createControlPlane,
  type ControlPlane,
  type ControlPlaneOptions,
} from '../../control-plane/src/composition-root.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { startTestNats, type TestNats } from './nats.js';
import { createHerokuSim, type HerokuSim } from '../heroku-sim/index.js';

/** The add-on's dev credentials, as addon-manifest.json (the dev manifest) holds them. */
export const DEV_ADDON = { id: readDevManifest().id, password: readDevManifest().api.password };
export const DEV_AUTH =
  'Basic ' + Buffer.from(`${DEV_ADDON.id}:${DEV_ADDON.password}`).toString('base64');

export interface TestStack {
  db: TestDatabase;
  nats: TestNats;
  plane: ControlPlane;
  config: ControlPlaneConfig;
  logs: string[];
  url: string;
  stop(): Promise<void>;
}

export async function startStack(
  env: Record<string, string> = {},
  options: ControlPlaneOptions = {},
): Promise<TestStack> {
  const db = await createTestDatabase();
  const nats = await startTestNats();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString());
      cb();
    },
  });
  const config = loadConfig({
    DATABASE_URL: db.url,
    NATS_URL: nats.url,
    PORT: '0',
    HOST: '127.0.0.1',
    OUTBOX_SWEEP_MS: '200',
    PRIVATE_SPACE_LOOKUP: 'assume-common-runtime',
    ...env,
  });
  const log = createLogger({ name: 'control-plane', level: 'info', destination: sink });
  const plane = await createControlPlane(config, log, options);
  await plane.start();
  return {
    db,
    nats,
    plane,
    config,
    logs,
    url: plane.url(),
    async stop() {
      await plane.stop();
      await nats.stop();
      await db.drop();
    },
  };
}

/** A stack whose Heroku (Platform API and identity service) is the simulator. */
export async function startStackWithSim(
  env: Record<string, string> = {},
): Promise<{ sim: HerokuSim; stack: TestStack; stop(): Promise<void> }> {
  const sim = await createHerokuSim();
  const stack = await startStack({ HEROKU_API_URL: sim.url, HEROKU_ID_URL: sim.url, ...env });
  return {
    sim,
    stack,
    async stop() {
      await stack.stop();
      await sim.close();
    },
  };
}
