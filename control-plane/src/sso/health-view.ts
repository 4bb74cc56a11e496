/**
 * The dashboard's "How it is doing" card: the instance's latest numbers as its region agent
 * measured them at a reconcile pass, the last readiness check, and memory over 24 hours.
 */
import type { InstanceStats } from '../../../shared/src/messages.js';
import { readableDate, relativeTime } from './dates.js';
import { bytes, count, percent, uptime } from './numbers.js';
import { sparkline } from './sparkline.js';
import { esc } from './view.js';

export interface HealthSample {
  at: Date;
  ready: boolean;
  stats: InstanceStats | null;
}

const DAY_MS = 86_400_000;
const NO_SAMPLES =
  '<p class="muted">No measurements yet: the first arrives within a few minutes of provisioning.</p>';

function memory(s: InstanceStats): string {
  if (!s.maxMemoryBytes)
    return `<span data-metric="memory">${esc(bytes(s.usedMemoryBytes))} (no limit)</span>`;
  const used = Math.min(s.usedMemoryBytes, s.maxMemoryBytes);
  return `<meter min="0" max="${esc(s.maxMemoryBytes)}" value="${esc(used)}" high="${esc(s.maxMemoryBytes * 0.9)}"></meter>
<span data-metric="memory">${esc(bytes(s.usedMemoryBytes))} of ${esc(bytes(s.maxMemoryBytes))} (${esc(percent(s.usedMemoryBytes, s.maxMemoryBytes))})</span>`;
}

function numbers(s: InstanceStats): string {
  return `<dt>Memory used</dt><dd>${memory(s)}</dd>
<dt>Keys</dt><dd data-metric="keys">${esc(count(s.keys))}</dd>
<dt>Connected clients</dt><dd data-metric="clients">${esc(count(s.clients))}</dd>
<dt>Commands/s</dt><dd data-metric="ops">${esc(count(s.opsPerSec))}</dd>
<dt>Up for</dt><dd data-metric="uptime">${esc(uptime(s.uptimeS))}</dd>`;
}

function lastCheck(last: HealthSample, now: number): string {
  const answer = last.ready ? 'answered over TLS' : 'did not answer';
  return `<dt>Last check</dt><dd data-metric="checked"><time datetime="${esc(last.at.toISOString())}">${esc(readableDate(last.at))}</time> <span class="muted">(${esc(relativeTime(last.at, now))})</span>: ${answer}</dd>`;
}

function chart(samples: HealthSample[], latest: InstanceStats, now: number): string {
  const points = samples.flatMap((s) =>
    s.stats ? [{ at: s.at, value: s.stats.usedMemoryBytes }] : [],
  );
  const svg = sparkline(points, {
    nowMs: now,
    spanMs: DAY_MS,
    limit: latest.maxMemoryBytes || undefined,
    label: 'Memory used over the last 24 hours',
  });
  return `<figure class="chart">${svg}<figcaption class="muted">Memory used, last 24 hours${latest.maxMemoryBytes ? ' (dashed: the plan’s limit)' : ''}</figcaption></figure>`;
}

/** `samples`: the last 24 hours, oldest first. */
export function healthCard(samples: HealthSample[], now: number): string {
  const last = samples.at(-1);
  const latest = samples.findLast((s) => s.stats)?.stats;
  const body = latest
    ? `<dl>${numbers(latest)}${last ? lastCheck(last, now) : ''}</dl>${chart(samples, latest, now)}`
    : `${NO_SAMPLES}${last ? `<dl>${lastCheck(last, now)}</dl>` : ''}`;
  return `<section class="card wide" id="health"><h2>How it is doing</h2>${body}</section>`;
}
