/**
 * The local stack's "Heroku": the simulator (id + api + logplex) plus a small front door that
 * acts as Heroku toward the control plane, so a person can provision with one curl.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  createHerokuSim,
  type BasicAuth,
  type CpResponse,
  type HerokuSim,
} from '../../test/heroku-sim/index.js';
import { freePort } from '../../shared/src/ports.js';

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

function provision({ sim, controlPlaneUrl, auth }: Door, input: Input): Promise<CpResponse> {
  const body = sim.createAddon({
    plan: input.plan ?? 'standard',
    region: input.region ?? 'us',
    app: { name: input.app ?? 'my-app', privateSpace: input.privateSpace === 'true' },
  });
  return sim.provision(controlPlaneUrl, body, auth);
}

/** What Heroku holds for one add-on (state, config). */
function showAddon(sim: HerokuSim, uuid: string): CpResponse {
  const addon = sim.addon(uuid);
  return addon
    ? { status: 200, body: { ...addon, config: Object.fromEntries(addon.config) } }
    : { status: 404, body: { message: 'unknown add-on' } };
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

export async function startHerokuFront(
  controlPlaneUrl: string,
  auth: BasicAuth,
  clientSecret: string,
): Promise<HerokuFront> {
  const sim = await createHerokuSim({ clientSecret });
  const door: Door = { sim, controlPlaneUrl, auth };
  const port = await freePort();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => respond(door, req, res, chunks));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    sim,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await sim.close();
    },
  };
}
