/**
 * Outgoing HTTP to Heroku (Platform API, identity service, Logplex) over one keep-alive
 * undici Agent, instead of global fetch with an AbortSignal per call: connections are reused
 * across calls, and the timeouts are the dispatcher's (headers, then body), not a timer and
 * an abort controller per request. Bodies are read whole (Heroku's answers are small JSON),
 * which also hands the connection back to the pool at once.
 */
import { Agent, request } from 'undici';

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Bounds the wait for the response headers, and then for the body. */
  timeoutMs: number;
}

export interface HttpAnswer {
  status: number;
  ok: boolean;
  headers: { get(name: string): string | null };
  json(): Promise<unknown>;
  text(): Promise<string>;
}

export interface HttpClient {
  send(url: string, req: HttpRequest): Promise<HttpAnswer>;
  close(): Promise<void>;
}

export function createHttpClient(options: { connectionsPerOrigin?: number } = {}): HttpClient {
  const agent = new Agent({
    keepAliveTimeout: 30_000,
    connections: options.connectionsPerOrigin ?? 32,
  });
  return {
    async send(url, req) {
      const res = await request(url, {
        dispatcher: agent,
        method: (req.method ?? 'GET') as 'GET',
        headers: req.headers,
        body: req.body,
        headersTimeout: req.timeoutMs,
        bodyTimeout: req.timeoutMs,
      });
      const text = await res.body.text();
      const headers = res.headers;
      return {
        status: res.statusCode,
        ok: res.statusCode >= 200 && res.statusCode < 300,
        headers: {
          get(name) {
            const v = headers[name.toLowerCase()];
            return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
          },
        },
        json: async () => JSON.parse(text) as unknown,
        text: async () => text,
      };
    },
    close: () => agent.close(),
  };
}
