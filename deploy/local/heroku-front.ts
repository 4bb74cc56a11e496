/**
 * The local stack's "Heroku": the simulator (id + api + logplex) plus a small front door that
 * acts as Heroku toward the control plane, so a person can provision with one curl.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createHerokuSim,
  type BasicAuth,
  type CpResponse,
  type HerokuSim,
} from '../../test/heroku-sim/index.js';

export interface HerokuFrontOptions {
  controlPlaneUrl: string;
  auth: BasicAuth;
  clientSecret: string;
  ssoSalt: string;
  /** The simulator's port (HEROKU_API_URL) and the front door's; 0 = any free one. */
  simPort: number;
  frontPort: number;
  /** Where the simulator keeps its add-ons across restarts. */
  stateFile?: string;
}

export interface HerokuFront {
  sim: HerokuSim;
  url: string;
  close(): Promise<void>;
}

/** What the front door needs to act as Heroku toward one control plane. */
interface Door {
  sim: HerokuSim;
  controlPlaneUrl: string;
  auth: BasicAuth;
}

type Input = Record<string, string>;

const HELP: CpResponse = {
  status: 404,
  body: { message: 'try POST /provision, /change-plan, /deprovision or GET /addons/{uuid}' },
};

/** The page that opens the add-on's dashboard as a Heroku user (`GET /sso/{uuid}` of the sim). */
const dashboardLink = (sim: HerokuSim, uuid: string): string => `${sim.url}/sso/${uuid}`;

async function provision(door: Door, input: Input): Promise<CpResponse> {
  const { sim, controlPlaneUrl, auth } = door;
  const body = sim.createAddon({
    plan: input.plan ?? 'standard',
    region: input.region ?? 'us',
    app: { name: input.app ?? 'my-app', privateSpace: input.privateSpace === 'true' },
  });
  const res = await sim.provision(controlPlaneUrl, body, auth);
  if (res.status >= 300) return res;
  return {
    status: res.status,
    body: { uuid: body.uuid, ...(res.body as object), dashboard: dashboardLink(sim, body.uuid) },
  };
}

/** What Heroku holds for one add-on (state, config), and the link to its dashboard. */
function showAddon(sim: HerokuSim, uuid: string): CpResponse {
  const addon = sim.addon(uuid);
  if (!addon) return { status: 404, body: { message: 'unknown add-on' } };
  const config = Object.fromEntries(addon.config);
  return { status: 200, body: { ...addon, config, dashboard: dashboardLink(sim, uuid) } };
}

const POSTS = new Map<string, (door: Door, input: Input) => Promise<CpResponse>>([
  ['/provision', provision],
  [
    '/change-plan',
    ({ sim, controlPlaneUrl, auth }, input) =>
      sim.changePlan(controlPlaneUrl, input.uuid ?? '', input.plan ?? '', auth),
  ],
  [
    '/deprovision',
    ({ sim, controlPlaneUrl, auth }, input) =>
      sim.deprovision(controlPlaneUrl, input.uuid ?? '', auth),
  ],
]);

async function answer(
  door: Door,
  method: string,
  pathname: string,
  input: Input,
): Promise<CpResponse> {
  const post = method === 'POST' ? POSTS.get(pathname) : undefined;
  if (post) return post(door, input);
  if (method === 'GET' && pathname.startsWith('/addons/'))
    return showAddon(door.sim, pathname.split('/')[2] ?? '');
  return HELP;
}

function readJson(chunks: Buffer[]): Input {
  return chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Input) : {};
}

/** Answers one request once its body is in; a bad body (or a failed call) is a 400. */
function respond(door: Door, req: IncomingMessage, res: ServerResponse, chunks: Buffer[]): void {
  void (async () => {
    const { pathname } = new URL(req.url ?? '/', 'http://local');
    const { status, body } = await answer(door, req.method ?? '', pathname, readJson(chunks));
    res
      .writeHead(status, { 'Content-Type': 'application/json' })
      .end(`${JSON.stringify(body, null, 2)}\n`);
  })().catch((err: unknown) =>
    res.writeHead(400).end(`${JSON.stringify({ message: (err as Error).message })}\n`),
  );
}

function listen(server: Server, port: number, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`${what}: port ${port} is in use (another stack? choose another PORT)`)
          : err,
      ),
    );
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

export async function startHerokuFront(opts: HerokuFrontOptions): Promise<HerokuFront> {
  const { controlPlaneUrl, auth } = opts;
  const sim = await createHerokuSim({
    clientSecret: opts.clientSecret,
    port: opts.simPort,
    stateFile: opts.stateFile,
    sso: { url: `${controlPlaneUrl}/sso/login`, salt: opts.ssoSalt },
  }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EADDRINUSE') throw err;
    throw new Error(`Heroku simulator: port ${opts.simPort} is in use (choose another PORT)`);
  });
  const door: Door = { sim, controlPlaneUrl, auth };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => respond(door, req, res, chunks));
  });
  const port = await listen(server, opts.frontPort, 'Heroku front door').catch(async (err) => {
    await sim.close();
    throw err;
  });
  return {
    sim,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await sim.close();
    },
  };
}
