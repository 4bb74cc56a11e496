/**
 * The control plane's metrics (README "Observing it"). Counters and histograms are recorded
 * where the event happens, through the one-line calls below; gauges that need a query are read
 * at scrape time (scrape-gauges.ts). Adding a gauge: one line in `instruments`, then
 * `metrics.instruments.<name>.set(labels, value)` where the value is known.
 */
import type { RejectReason } from '../ops/messaging/result-trust.js';
import type { OperationRow } from '../db/operations.js';
import {
  counter,
  createRegistry,
  histogram,
  HTTP_BUCKETS,
  LONG_BUCKETS,
  type Registry,
} from '../../../shared/src/metrics.js';

export type OperationResult = 'succeeded' | 'failed' | 'timed_out';
export type HerokuCallOutcome = 'ok' | 'retry' | 'rate_limited' | 'failed';
/** Why a result was refused: result-trust.ts's reasons, or one that could never be applied. */
export type ResultRejection = RejectReason | 'malformed' | 'dead_lettered' | 'unsupported_version';

function instruments(r: Registry) {
  return {
    httpRequests: counter(r, 'addon_http_requests_total', 'HTTP requests answered', [
      'route',
      'method',
      'status',
    ]),
    httpDuration: histogram(
      r,
      'addon_http_request_duration_seconds',
      'HTTP answer time',
      ['route', 'method'],
      HTTP_BUCKETS,
    ),
    operations: counter(r, 'addon_operations_total', 'Operations finished', ['kind', 'result']),
    operationDuration: histogram(
      r,
      'addon_operation_duration_seconds',
      'Operation accept to finish',
      ['kind'],
      LONG_BUCKETS,
    ),
    dispatchLag: histogram(
      r,
      'addon_outbox_dispatch_lag_seconds',
      'Outbox commit (or due time) to first publish',
      [],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    ),
    herokuCalls: counter(r, 'addon_heroku_calls_total', 'Attempts at calls to Heroku', [
      'call',
      'outcome',
    ]),
    resultsRejected: counter(r, 'addon_results_rejected_total', 'Agent results refused', [
      'reason',
      'class',
    ]),
    ssoLogins: counter(r, 'addon_sso_logins_total', 'SSO logins by result', ['result']),
  };
}

export type Instruments = ReturnType<typeof instruments>;

export interface ControlPlaneMetrics {
  registry: Registry;
  instruments: Instruments;
  httpRequest(route: string, method: string, status: number, seconds: number): void;
  /** After the commit that finished it: a rolled-back transaction must count nothing. */
  operationFinished(op: Pick<OperationRow, 'kind' | 'created_at'>, result: OperationResult): void;
  /** Operations published for the first time (their lag since commit or due time). */
  dispatched(ops: Pick<OperationRow, 'attempts' | 'created_at' | 'not_before'>[]): void;
  herokuCall(call: string, outcome: HerokuCallOutcome): void;
  resultRejected(reason: ResultRejection): void;
  ssoLogin(result: string): void;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

const since = (at: Date, now: number): number => Math.max(0, (now - at.getTime()) / 1000);

export function createControlPlaneMetrics(
  registry: Registry = createRegistry(),
): ControlPlaneMetrics {
  const m = instruments(registry);
  return {
    registry,
    instruments: m,
    httpRequest(route, method, status, seconds) {
      const verb = METHODS.has(method) ? method : 'OTHER';
      m.httpRequests.inc({ route, method: verb, status: String(status) });
      m.httpDuration.observe({ route, method: verb }, seconds);
    },
    operationFinished(op, result) {
      m.operations.inc({ kind: op.kind, result });
      m.operationDuration.observe({ kind: op.kind }, since(op.created_at, Date.now()));
    },
    dispatched(ops) {
      const now = Date.now();
      for (const op of ops)
        if (op.attempts === 0) m.dispatchLag.observe(since(op.not_before ?? op.created_at, now));
    },
    herokuCall: (call, outcome) => m.herokuCalls.inc({ call, outcome }),
    resultRejected: (reason) => m.resultsRejected.inc({ reason, class: rejectionClass(reason) }),
    ssoLogin: (result) => m.ssoLogins.inc({ result }),
  };
}

/**
 * The three classes over the fine-grained reasons: `poison` (not a result at all, one in
 * a message version we do not read, or one that never applied), `unknown_operation`, and
 * `forged` (a result that claims what its sender may not say: another region, resource, kind or
 * generation).
 */
export function rejectionClass(reason: ResultRejection): 'forged' | 'unknown_operation' | 'poison' {
  if (reason === 'malformed' || reason === 'dead_lettered' || reason === 'unsupported_version')
    return 'poison';
  if (reason === 'unknown_operation') return 'unknown_operation';
  return 'forged';
}
