/** GET /livez and /readyz for the chart's probes, and GET /metrics for Prometheus. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exposition, scrapeAllowed, type Registry } from '../../shared/src/metrics.js';

export interface MetricsEndpoint {
  registry: Registry;
  /** METRICS_TOKEN: when set, a scrape needs `Authorization: Bearer <token>`. */
  token?: string;
}

function serveMetrics(m: MetricsEndpoint, req: IncomingMessage, res: ServerResponse): void {
  if (!scrapeAllowed(req.headers.authorization, m.token)) {
    res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
    res.end(JSON.stringify({ message: 'A bearer token is required' }));
    return;
  }
  exposition(m.registry).then(
    ({ contentType, body }) => {
      res.writeHead(200, { 'content-type': contentType });
      res.end(body);
    },
    () => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'metrics unavailable' }));
    },
  );
}

export interface HealthServer {
  /** Resolves with the bound port (useful with port 0). */
  listen(port: number, host?: string): Promise<number>;
  close(): Promise<void>;
}

export function createHealthServer(
  isReady: () => boolean,
  metrics?: MetricsEndpoint,
): HealthServer {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (metrics && req.method === 'GET' && path === '/metrics')
      return serveMetrics(metrics, req, res);
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
