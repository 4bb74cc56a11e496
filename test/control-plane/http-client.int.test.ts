/** The keep-alive client for Heroku calls: reuses connections, and a silent server times out. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpClient } from '../../control-plane/src/heroku/http-client.js';

let server: Server;
let url: string;
const sockets = new Set<unknown>();
let held = 0;
let peakHeld = 0;
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/silent') return; // never answers
    if (req.url === '/held') {
      held += 1;
      peakHeld = Math.max(peakHeld, held);
      setTimeout(() => {
        held -= 1;
        res.end('{}');
      }, 200);
      return;
    }
    res.setHeader('RateLimit-Remaining', '7');
    res.end(JSON.stringify({ path: req.url, method: req.method }));
  });
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

it('answers with status, headers and body, over reused connections', async () => {
  const http = createHttpClient();
  try {
    const a = await http.send(`${url}/a`, { method: 'POST', body: '{}', timeoutMs: 2000 });
    const b = await http.send(`${url}/b`, { timeoutMs: 2000 });
    expect([a.status, a.ok, a.headers.get('ratelimit-remaining')]).toEqual([200, true, '7']);
    expect(await a.json()).toEqual({ path: '/a', method: 'POST' });
    expect(await b.json()).toEqual({ path: '/b', method: 'GET' });
    expect(a.headers.get('retry-after')).toBeNull();
    for (let i = 0; i < 6; i++) await http.send(`${url}/${i}`, { timeoutMs: 2000 });
    // Kept alive: eight sequential calls share at most two connections (undici may open a
    // second one while the first is being handed back), never one per call.
    expect(sockets.size).toBeLessThanOrEqual(2);
  } finally {
    await http.close();
  }
});

it('gives up on a server that does not answer within the timeout', async () => {
  const http = createHttpClient();
  try {
    const started = Date.now();
    await expect(http.send(`${url}/silent`, { timeoutMs: 200 })).rejects.toThrow(/timeout/i);
    expect(Date.now() - started).toBeLessThan(2000);
  } finally {
    await http.close();
  }
});

it('serves as many calls at once as it has sockets for (the control plane sizes it to its call concurrency)', async () => {
  const http = createHttpClient({ connectionsPerOrigin: 48 });
  try {
    peakHeld = 0;
    const all = Array.from({ length: 60 }, () => http.send(`${url}/held`, { timeoutMs: 5000 }));
    expect((await Promise.all(all)).every((r) => r.ok)).toBe(true);
    expect(peakHeld).toBe(48);
  } finally {
    await http.close();
  }
});
