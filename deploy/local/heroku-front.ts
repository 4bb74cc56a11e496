/**
 * The local stack's "Heroku": the simulator (id + api + logplex) plus a small front door that
 * acts as Heroku toward the control plane, so a person can provision with one curl.
 */
import { createServer, type Server } from 'node:http';
import { createHerokuSim, type HerokuSim } from '../../test/heroku-sim/index.js';
import { freePort } from '../../shared/src/ports.js';

export interface HerokuFront {
  sim: HerokuSim;
  url: string;
  close(): Promise<void>;
}

export async function startHerokuFront(
  controlPlaneUrl: string,
  auth: { id: string; password: string },
  clientSecret: string,
): Promise<HerokuFront> {
  const sim = await createHerokuSim({ clientSecret });
  const port = await freePort();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://local');
        const input = chunks.length
          ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, string>)
          : {};
        let answer: { status: number; body: unknown };
        if (req.method === 'POST' && url.pathname === '/provision') {
          const body = sim.createAddon({
            plan: input.plan ?? 'standard',
            region: input.region ?? 'us',
            app: { name: input.app ?? 'my-app', privateSpace: input.privateSpace === 'true' },
          });
          answer = await sim.provision(controlPlaneUrl, body, auth);
        } else if (req.method === 'POST' && url.pathname === '/change-plan') {
          answer = await sim.changePlan(controlPlaneUrl, input.uuid ?? '', input.plan ?? '', auth);
        } else if (req.method === 'POST' && url.pathname === '/deprovision') {
          answer = await sim.deprovision(controlPlaneUrl, input.uuid ?? '', auth);
        } else if (req.method === 'GET' && url.pathname.startsWith('/addons/')) {
          const addon = sim.addon(url.pathname.split('/')[2] ?? '');
          answer = addon
            ? { status: 200, body: { ...addon, config: Object.fromEntries(addon.config) } }
            : { status: 404, body: { message: 'unknown add-on' } };
        } else {
          answer = {
            status: 404,
            body: {
              message: 'try POST /provision, /change-plan, /deprovision or GET /addons/{uuid}',
            },
          };
        }
        res
          .writeHead(answer.status, { 'Content-Type': 'application/json' })
          .end(`${JSON.stringify(answer.body, null, 2)}\n`);
      })().catch((err: unknown) =>
        res.writeHead(400).end(`${JSON.stringify({ message: (err as Error).message })}\n`),
      );
    });
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
