/** Heroku's side of the Add-on Partner API: sends provision / plan change / deprovision to a control plane. */
import { createHash } from 'node:crypto';
import type { BasicAuth, CpResponse } from './types.js';

export const PARTNER_ACCEPT = 'application/vnd.heroku-addons+json; version=3';
const RESOURCES_PATH = '/heroku/resources';

/** `cpUrl` may be the origin (`http://127.0.0.1:5000`) or the full base_url (`…/heroku/resources`). */
export function baseUrl(cpUrl: string): string {
  const u = new URL(cpUrl);
  const path = u.pathname.replace(/\/+$/, '');
  return `${u.origin}${path === '' ? RESOURCES_PATH : path}`;
}

export function basicAuthHeader(auth: BasicAuth): string {
  return 'Basic ' + Buffer.from(`${auth.id}:${auth.password}`).toString('base64');
}

export interface SendOptions {
  /** Raw body text, sent as is (for malformed-JSON checks). */
  rawBody?: string;
  timeoutMs?: number;
}

/** Sends one request the way Heroku does; the body is parsed as JSON when possible, else kept as text. */
export async function sendToCp(
  method: string,
  url: string,
  auth: BasicAuth,
  body?: unknown,
  opts: SendOptions = {},
): Promise<CpResponse & { text: string; json: boolean }> {
  const headers: Record<string, string> = {
    Accept: PARTNER_ACCEPT,
    Authorization: basicAuthHeader(auth),
    'User-Agent': 'heroku-sim/addons-v3',
  };
  const payload = opts.rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
  if (payload !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, {
    method,
    headers,
    body: payload,
    signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
  });
  const text = await res.text();
  try {
    return {
      status: res.status,
      body: text === '' ? undefined : (JSON.parse(text) as unknown),
      text,
      json: text !== '',
    };
  } catch {
    return { status: res.status, body: text, text, json: false };
  }
}

export function sha1Hex(s: string): string {
  return createHash('sha1').update(s).digest('hex');
}

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
