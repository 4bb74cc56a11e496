/** Operator commands beyond show/rotate: what is stuck, and acting on one operation. */
import type { Pool } from '../db/pool.js';
import { listTroubledCalls } from '../db/calls.js';
import { listStuckOperations } from '../db/operations.js';
import { regionLiveness } from '../db/agents.js';
import { regionCounts } from '../db/resources.js';
import { reconcileRuns, type ReconcileRun } from '../db/drift.js';
import { failOperationNow, retryOperation, type OperatorDeps } from '../ops/usecases/operator.js';

export interface Flags {
  json: boolean;
  olderThanS: number;
  reason?: string;
  region?: string;
  dryRun: boolean;
  yes: boolean;
}

/** `--json`, `--older-than 10m|90s|2h`, `--reason "…"`; the rest are positional. */
export function parseArgs(argv: string[]): { positional: string[]; flags: Flags } {
  const positional: string[] = [];
  const flags: Flags = { json: false, olderThanS: 600, dryRun: false, yes: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--json') flags.json = true;
    else if (arg === '--dry-run') flags.dryRun = true;
    else if (arg === '--yes') flags.yes = true;
    else if (arg === '--older-than') flags.olderThanS = parseDuration(argv[++i]);
    else if (arg === '--reason') flags.reason = argv[++i];
    else if (arg === '--region') flags.region = value(arg, argv[++i]);
    else if (arg.startsWith('--')) throw new Error(`unknown flag ${arg}`);
    else positional.push(arg);
  }
  return { positional, flags };
}

function value(flag: string, v: string | undefined): string {
  if (!v || v.startsWith('--')) throw new Error(`${flag} needs a value`);
  return v;
}

function parseDuration(text: string | undefined): number {
  const m = /^(\d+)([smhd]?)$/.exec(text ?? '');
  if (!m) throw new Error(`--older-than takes a duration such as 90s, 10m, 2h (got ${text})`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

export function table(rows: Array<Record<string, unknown>>, empty: string): string {
  if (rows.length === 0) return `${empty}\n`;
  const cols = Object.keys(rows[0]!);
  const cell = (v: unknown): string => (v instanceof Date ? v.toISOString() : String(v ?? ''));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]): string => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ');
  return [line(cols), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n') + '\n';
}

export const age = (d: Date | null): string =>
  d ? `${Math.round((Date.now() - d.getTime()) / 1000)}s` : '';

/** Open operations past their deadline, and calls to Heroku that failed or keep failing. */
export async function stuck(pool: Pool, flags: Flags): Promise<string> {
  const operations = await listStuckOperations(pool, flags.olderThanS);
  const calls = await listTroubledCalls(pool, 5);
  if (flags.json) return `${JSON.stringify({ operations, herokuCalls: calls }, null, 2)}\n`;
  const ops = operations.map((o) => ({
    operation: o.id,
    resource: o.resource_uuid,
    kind: o.kind,
    state: o.state,
    attempts: o.attempts,
    'past deadline': age(o.deadline),
    'last error': o.last_error?.message ?? '',
  }));
  const troubled = calls.map((c) => ({
    call: c.id,
    resource: c.resource_uuid,
    kind: c.kind,
    state: c.state,
    attempts: c.attempts,
    status: c.last_status ?? '',
    'last error': c.last_error ?? '',
  }));
  return (
    `operations open past their deadline by more than ${flags.olderThanS}s:\n` +
    table(ops, '  none') +
    `\ncalls to Heroku failed for good or failing (5+ attempts):\n` +
    table(troubled, '  none') +
    (ops.length
      ? '\nact on one: npm run operator -- retry <operation> | fail <operation> --reason "…"\n'
      : '')
  );
}

export async function retry(
  deps: OperatorDeps,
  id: string | undefined,
  flags: Flags,
): Promise<string> {
  if (!id) throw new Error('usage: npm run operator -- retry <operation-id>');
  const message = await retryOperation(deps, id);
  return flags.json
    ? `${JSON.stringify({ operationId: id, retried: true, message })}\n`
    : `${message}\n`;
}

export async function fail(
  deps: OperatorDeps,
  id: string | undefined,
  flags: Flags,
): Promise<string> {
  if (!id || !flags.reason)
    throw new Error('usage: npm run operator -- fail <operation-id> --reason "why"');
  const message = await failOperationNow(deps, id, flags.reason);
  return flags.json
    ? `${JSON.stringify({ operationId: id, failed: true, message })}\n`
    : `${message}\n`;
}

/** Per agent region of the catalog: its agents, whether it is up, and what it hosts. */
export async function regions(
  pool: Pool,
  agentRegions: string[],
  deadAfterS: number,
  flags: Flags,
): Promise<string> {
  const live = new Map((await regionLiveness(pool, deadAfterS)).map((r) => [r.agent_region, r]));
  const counts = await regionCounts(pool);
  const runs = new Map((await reconcileRuns(pool)).map((r) => [r.agent_region, r]));
  const rows = agentRegions.map((region) => {
    const l = live.get(region);
    const run = runs.get(region);
    const mine = counts.filter((c) => c.agent_region === region);
    const status = !l ? 'never seen' : l.live_agents > 0 ? 'up' : 'down';
    return {
      region,
      status,
      agents: l ? `${l.live_agents}/${l.agents}` : '0/0',
      'last heartbeat': l ? `${l.last_seen_age_s}s ago` : '',
      instances: mine.map((c) => `${c.state}:${c.n}`).join(' '),
      'open operations': mine[0]?.open_ops ?? 0,
      ...lastReconcile(run),
    };
  });
  if (flags.json) return `${JSON.stringify(rows, null, 2)}\n`;
  return (
    table(rows, 'no agent regions in the catalog') +
    `(down: every agent silent for more than ${deadAfterS}s, AGENT_DEAD_AFTER_S; new provisions go to a live fallback region where the plan allows one)\n`
  );
}

function lastReconcile(run: ReconcileRun | undefined): Record<string, string> {
  if (!run?.last_finished_at) return { 'last reconcile': 'never', findings: '' };
  return {
    'last reconcile': `${age(run.last_finished_at)} ago`,
    findings: run.last_error ? `not reconciled: ${run.last_error}` : summaryText(run.last_summary),
  };
}

/** `{instances: 3, missing: 1}` → "3 instances, missing:1". */
function summaryText(summary: Record<string, number> | null): string {
  if (!summary) return '';
  const { instances = 0, ...found } = summary;
  const kinds = Object.entries(found).map(([k, n]) => `${k}:${n}`);
  return [`${instances} instances`, kinds.length ? kinds.join(' ') : 'no drift'].join(', ');
}
