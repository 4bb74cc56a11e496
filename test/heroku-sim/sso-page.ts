/**
 * `GET /sso/{uuid}`: what Heroku's Dashboard does when a user opens an add-on, as a page. It
 * signs a fresh SSO form (Heroku's fields, README "Heroku-facing API") for one user and
 * posts it to the partner's `sso_url` by itself, so a browser lands on the dashboard.
 */
import type { HerokuDriver } from './heroku-driver.js';
import type { SimResponse } from './oauth.js';
import type { SimState } from './state.js';

export interface SsoTarget {
  /** The partner's `sso_url` (the manifest's), e.g. http://127.0.0.1:5000/sso/login. */
  url: string;
  salt: string;
  /** The user the page signs in as (default dev@example.com). */
  email?: string;
}

/** The stable user id of the simulated Heroku user with this email. */
export const DEV_USER_ID = '5a6f1e7c-0d2b-4c55-9a1e-6b9d0c0ffee0';

const esc = (v: string): string => v.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const page = (title: string, body: string): string =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head>` +
  `<body style="font:16px system-ui,sans-serif;margin:10vh auto;max-width:560px;text-align:center">${body}</body></html>`;

export function ssoPage(
  state: SimState,
  driver: HerokuDriver,
  target: SsoTarget | undefined,
  uuid: string,
  query: URLSearchParams,
): SimResponse {
  if (!target) {
    const text = '<p>This simulator was started without an sso_url.</p>';
    return { status: 404, html: page('SSO', text) };
  }
  if (!state.addons.has(uuid))
    return { status: 404, html: page('Unknown add-on', `<p>No add-on ${esc(uuid)} here.</p>`) };
  const email = query.get('email') || target.email || 'dev@example.com';
  const fields = driver.ssoForm(uuid, { email, userId: DEV_USER_ID, salt: target.salt });
  const inputs = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join('');
  const form =
    `<form method="post" action="${esc(target.url)}"><p>Opening the add-on's dashboard as ` +
    `${esc(email)}…</p>${inputs}<noscript><button>Open the dashboard</button></noscript></form>` +
    '<script>document.forms[0].submit()</script>';
  return { status: 200, html: page('Opening the dashboard', form) };
}
