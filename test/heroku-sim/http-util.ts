/** Small node:http helpers: body reading/parsing and JSON answers in Heroku's error shape. */
import type { IncomingMessage, ServerResponse } from 'node:http';

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** JSON and form bodies become objects; anything else stays text; unparseable JSON becomes `invalidJson`. */
export function parseBody(contentType: string | undefined, raw: string): unknown {
  if (raw === '') return undefined;
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded')
    return Object.fromEntries(new URLSearchParams(raw));
  if (type === 'application/json' || type.endsWith('+json')) {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      return invalidJson;
    }
  }
  return raw;
}

export const invalidJson: unique symbol = Symbol('invalid JSON');

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(text ? { 'Content-Type': 'application/json; charset=utf-8' } : {}),
    ...headers,
  });
  res.end(text);
}

const ERROR_IDS: Record<number, [string, string]> = {
  400: ['bad_request', 'Invalid request.'],
  401: ['unauthorized', 'Invalid credentials provided.'],
  403: ['forbidden', 'You do not have access to this resource.'],
  404: ['not_found', 'Not found.'],
  422: ['invalid_params', 'Invalid params.'],
  429: [
    'rate_limit',
    'Your account reached the API rate limit\nPlease wait a few minutes before making new requests',
  ],
  500: ['internal_server_error', 'Internal server error.'],
  503: ['service_unavailable', 'API is temporarily unavailable.'],
};

/** The Platform API's error body: `{ id, message }`. */
export function herokuError(status: number, message?: string): { id: string; message: string } {
  const [id, fallback] = ERROR_IDS[status] ?? ['error', `HTTP ${status}`];
  return { id, message: message ?? fallback };
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message?: string,
  ) {
    super(message ?? herokuError(status).message);
  }
}
