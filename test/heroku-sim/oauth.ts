/** id.heroku.com: `POST /oauth/token` for grant-code exchange and refresh (§4.1, §4.2). */
import { timingSafeEqual } from 'node:crypto';
import { herokuError } from './http-util.js';
import type { SimState } from './state.js';

export interface SimResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** An HTML page instead of a JSON body (the SSO page). */
  html?: string;
}

/** Heroku's example sends the params in the query string; a form body works too (body wins). */
export function tokenParams(query: URLSearchParams, body: unknown): Record<string, string> {
  const params: Record<string, string> = Object.fromEntries(query);
  if (body && typeof body === 'object') {
    for (const [k, v] of Object.entries(body as Record<string, unknown>))
      if (typeof v === 'string') params[k] = v;
  }
  return params;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function handleToken(
  state: SimState,
  clientSecret: string,
  params: Record<string, string>,
): SimResponse {
  if (!params.client_secret || !sameSecret(params.client_secret, clientSecret)) {
    return { status: 401, body: herokuError(401, 'Invalid OAuth client secret.') };
  }
  if (params.grant_type === 'authorization_code') {
    const addonId = params.code ? state.redeemGrant(params.code) : undefined;
    if (!addonId)
      return {
        status: 401,
        body: herokuError(401, 'Invalid, expired or already used authorization code.'),
      };
    return { status: 200, body: state.issueTokens(addonId) };
  }
  if (params.grant_type === 'refresh_token') {
    const addonId = params.refresh_token
      ? state.refreshTokens.get(params.refresh_token)
      : undefined;
    if (!addonId) return { status: 401, body: herokuError(401, 'Invalid refresh token.') };
    return { status: 200, body: state.issueTokens(addonId, params.refresh_token) };
  }
  return {
    status: 400,
    body: herokuError(400, `Unsupported grant_type ${JSON.stringify(params.grant_type ?? '')}.`),
  };
}
