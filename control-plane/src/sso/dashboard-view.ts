/**
 * The customer's dashboard page: what the add-on is, how to connect to it, what the plan
 * includes, credentials and their rotation, and its history, in the customer's words.
 * Every interpolated value goes through esc().
 */
import type { Plan } from '../catalog/schema.js';
import { duration, readableDate, relativeTime } from './dates.js';
import type { DashboardLinks } from './setup.js';
import { COPY_SCRIPT_PATH } from './copy-script.js';
import { healthCard, type HealthSample } from './health-view.js';
import { snippetsHtml } from './snippets.js';
import { esc, layout, maskUrl } from './view.js';

export interface DashboardView {
  uuid: string;
  name: string;
  plan: string;
  herokuRegion: string;
  agentRegion: string;
  state: string;
  email: string;
  host: string | null;
  port: number | null;
  certificateNotAfter: string | null;
  url: string | null;
  /** Whether the CA certificate can be downloaded (it is in the add-on's config). */
  hasCa?: boolean;
  /** The CA certificate (public), for the copy button. */
  caPem?: string;
  operations: Array<{ kind: string; state: string; at: Date }>;
  csrfToken: string;
  configVarsPrefix?: string;
  now?: number;
  rotationGraceS?: number;
  /** When the credentials replaced by the last rotation stop working, if that is still ahead. */
  revokesAt?: Date | null;
  planInfo?: Plan;
  links?: DashboardLinks;
  /** What the region agent measured at reconcile passes, the last 24 hours, oldest first. */
  samples?: HealthSample[];
}

const KIND_WORDS: Record<string, string> = {
  provision: 'Created',
  change_plan: 'Plan change',
  deprovision: 'Removal',
  rotate_credentials: 'New credentials',
  revoke_credentials: 'Old credentials retired',
};
const STATE_WORDS: Record<string, string> = {
  pending: 'Waiting',
  dispatched: 'In progress',
  succeeded: 'Done',
  failed: 'Failed',
  provisioning: 'Starting',
  provisioned: 'Available',
  changing: 'Changing plan',
};
const words = (map: Record<string, string>, key: string): string => map[key] ?? key;
const badge = (s: string): string =>
  `<span class="badge s-${esc(s)}">${esc(words(STATE_WORDS, s))}</span>`;

const copyButton = (id: string, label = 'Copy'): string =>
  `<button type="button" class="copy" data-copy="${esc(id)}">${esc(label)}</button>`;

/** A URL that wraps after `@` (before the host) rather than inside the host name. */
const breakable = (url: string): string => esc(url).replace('@', '@<wbr>');

function when(d: Date, now: number, relative = false): string {
  const rel = relative ? ` <span class="muted">(${esc(relativeTime(d, now))})</span>` : '';
  return `<time datetime="${esc(d.toISOString())}">${esc(readableDate(d))}</time>${rel}`;
}

function instanceCard(v: DashboardView): string {
  return `<section class="card"><h2>Instance</h2><dl>
<dt>Plan</dt><dd>${esc(v.plan)}</dd>
<dt>Status</dt><dd>${badge(v.state)}</dd>
<dt>Heroku region</dt><dd>${esc(v.herokuRegion)}</dd>
<dt>Hosted in</dt><dd>${esc(v.agentRegion)}</dd></dl></section>`;
}

function connectionCard(v: DashboardView, now: number): string {
  const expiry = v.certificateNotAfter ? when(new Date(v.certificateNotAfter), now, true) : '—';
  const ca = v.hasCa
    ? `<p><a href="/dashboard/${esc(v.uuid)}/ca.pem" download="ca.pem">Download the CA certificate</a> ${copyButton('ca', 'Copy CA')}</p><pre id="ca" hidden>${esc(v.caPem ?? '')}</pre>`
    : '';
  return `<section class="card"><h2>Connection</h2><dl>
<dt>Host</dt><dd>${v.host ? `<code class="nowrap">${esc(v.host)}</code>` : '—'}</dd>
<dt>Port</dt><dd>${v.port ? `<code>${esc(v.port)}</code>` : '—'}</dd>
<dt>TLS</dt><dd>required, verify against the add-on's CA</dd>
<dt>Certificate expires</dt><dd>${expiry}</dd></dl>${ca}</section>`;
}

function planCard(v: DashboardView): string {
  const p = v.planInfo;
  const includes = p
    ? `<dl><dt>Memory</dt><dd>${esc(p.size.memoryMb)} MB</dd>
<dt>Connections</dt><dd>up to ${esc(p.size.maxConnections ?? '—')}</dd>
<dt>Persistence</dt><dd>append-only file on ${esc(p.size.storageGb ?? '—')} GB of disk</dd>
<dt>Private Spaces</dt><dd>${p.privateSpaces ? 'available' : 'not available'}</dd></dl>`
    : '';
  return `<section class="card"><h2>Your plan: ${esc(v.plan)}</h2>${includes}
<p class="muted">Change it with <code>heroku addons:upgrade ${esc(v.name)} tlsredis:&lt;plan&gt;</code></p></section>`;
}

function credentialsCard(v: DashboardView, now: number): string {
  const creds = v.url
    ? `<p><code>${breakable(maskUrl(v.url))}</code></p><details><summary>Reveal credentials</summary><p><code id="url">${breakable(v.url)}</code></p></details>${copyButton('url', 'Copy URL')}`
    : '<p class="muted">Credentials are not available yet.</p>';
  const grace = duration(v.rotationGraceS ?? 7200);
  const retiring = v.revokesAt
    ? `<p>The previous credentials stop working ${when(v.revokesAt, now, true)}.</p>`
    : '';
  return `<section class="card"><h2>Credentials</h2>${creds}${retiring}
<details class="confirm"><summary>Rotate credentials…</summary>
<p>New credentials are created and sent to your app's config vars (Heroku restarts its dynos).
The current ones keep working for ${esc(grace)} after that, then stop.</p>
<form method="post" action="/dashboard/${esc(v.uuid)}/rotate">
<input type="hidden" name="csrf" value="${esc(v.csrfToken)}">
<button type="submit">Rotate credentials</button></form></details></section>`;
}

function historyCard(v: DashboardView, now: number): string {
  const rows = v.operations
    .map(
      (o) =>
        `<tr><td>${esc(words(KIND_WORDS, o.kind))}</td><td>${badge(o.state)}</td><td>${when(o.at, now)}</td></tr>`,
    )
    .join('');
  return `<section class="card wide"><h2>History</h2>
<table><thead><tr><th>What</th><th>Status</th><th>When</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

function footer(links: DashboardLinks | undefined): string {
  const a = [
    links?.docs ? `<a href="${esc(links.docs)}">Documentation</a>` : '',
    links?.support ? `<a href="${esc(links.support)}">Support</a>` : '',
  ].join('');
  return a ? `<footer>${a}</footer>` : '';
}

export function dashboardPage(v: DashboardView): string {
  const now = v.now ?? Date.now();
  return layout(
    `${v.name} · TLS Redis`,
    `
<header><h1>${esc(v.name)}</h1><p class="muted">${esc(v.uuid)} · signed in as ${esc(v.email)}</p></header>
<div class="grid">
${instanceCard(v)}
${connectionCard(v, now)}
${credentialsCard(v, now)}
${planCard(v)}
${healthCard(v.samples ?? [], now)}
<section class="card wide"><h2>How to connect</h2>
<p class="muted">Your app has <code>${esc(v.configVarsPrefix ?? 'TLSREDIS')}_URL</code> and <code>${esc(v.configVarsPrefix ?? 'TLSREDIS')}_TLS_CA</code>. Always verify the server against the CA:</p>
${snippetsHtml(v.configVarsPrefix ?? 'TLSREDIS')}</section>
${historyCard(v, now)}
</div>${footer(v.links)}<script src="${COPY_SCRIPT_PATH}"></script>`,
  );
}
