/** GET /livez and /readyz for the chart's probes; nothing else is served. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HealthServer {
  /** Resolves with the bound port (useful with port 0). */
  listen(port: number, host?: string): Promise<number>;
  close(): Promise<void>;
}

export function createHealthServer(isReady: () => boolean): HealthServer {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    let status = 404;
    if (req.method === 'GET' && path === '/livez') status = 200;
    if (req.method === 'GET' && path === '/readyz') status = isReady() ? 200 : 503;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: status === 200 }));
  });
  return {
    listen(port: number, host = '0.0.0.0'): Promise<number> {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve((server.address() as AddressInfo).port);
        });
      });
    },
    close(): Promise<void> {
      return new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
