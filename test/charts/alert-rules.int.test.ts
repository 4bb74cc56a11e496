/**
 * The charts' alert rules, evaluated by promtool against synthetic series (`promtool test
 * rules`): a burn-rate page fires when the budget burns and stays quiet when it does not, and
 * the hard alerts fire after their `for`. promtool comes with Debian's `prometheus` package
 * (.ci/run installs it).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import type { RuleGroup } from '../support/prometheus.js';
import { renderChart } from './helm.js';

type Chart = 'control-plane' | 'region-agent';

function groups(chart: Chart): RuleGroup[] {
  const rule = renderChart(chart, { set: { 'metrics.prometheusRule.enabled': 'true' } }).find(
    (o) => o.kind === 'PrometheusRule',
  );
  return (rule!.spec as { groups: RuleGroup[] }).groups;
}

function annotationsOf(chart: Chart, alert: string): Record<string, string> {
  const rule = groups(chart)
    .flatMap((g) => g.rules)
    .find((r) => r.alert === alert);
  if (!rule) throw new Error(`no alert ${alert}`);
  return rule.annotations ?? {};
}

interface AlertCase {
  alertname: string;
  eval_time: string;
  exp_alerts: Array<{ exp_labels: Record<string, string>; exp_annotations: Record<string, string> }>;
}

function promtoolTest(
  chart: Chart,
  series: Array<{ series: string; values: string }>,
  cases: AlertCase[],
): { status: number; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'rule-test-'));
  writeFileSync(join(dir, 'rules.yaml'), dump({ groups: groups(chart) }));
  const test = {
    rule_files: ['rules.yaml'],
    evaluation_interval: '1m',
    tests: [{ interval: '1m', input_series: series, alert_rule_test: cases }],
  };
  writeFileSync(join(dir, 'test.yaml'), dump(test));
  const res = spawnSync('promtool', ['test', 'rules', 'test.yaml'], { cwd: dir, encoding: 'utf8' });
  if (res.error) throw new Error('promtool not found: install the Debian package prometheus');
  return { status: res.status ?? -1, output: `${res.stdout}${res.stderr}` };
}

const heroku = (status: string): string =>
  `addon_http_requests_total{route="/heroku/resources",method="POST",status="${status}"}`;

describe('control-plane alert rules', () => {
  const fast = 'HerokuAvailabilityBudgetBurnFast';

  it('pages when 10% of Heroku-facing answers are 5xx for an hour', () => {
    const expected = {
      exp_labels: { severity: 'page', slo: 'availability' },
      exp_annotations: annotationsOf('control-plane', fast),
    };
    const res = promtoolTest(
      'control-plane',
      [
        { series: heroku('500'), values: '0+10x90' },
        { series: heroku('202'), values: '0+90x90' },
      ],
      [
        { alertname: fast, eval_time: '70m', exp_alerts: [expected] },
      ],
    );
    expect(res).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });

  it('stays quiet while the errors stay within budget', () => {
    const res = promtoolTest(
      'control-plane',
      [
        { series: heroku('500'), values: '0+0x90' },
        { series: heroku('202'), values: '0+100x90' },
      ],
      [{ alertname: fast, eval_time: '70m', exp_alerts: [] }],
    );
    expect(res).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });

  it('pages for an operation open past every deadline once it has been so for 5 minutes', () => {
    const alertname = 'OperationOpenPastDeadline';
    const annotations = annotationsOf('control-plane', alertname);
    const res = promtoolTest(
      'control-plane',
      [{ series: 'addon_oldest_open_operation_age_seconds{pod="a"}', values: '3500+60x20' }],
      [
        { alertname, eval_time: '3m', exp_alerts: [] },
        {
          alertname,
          eval_time: '15m',
          exp_alerts: [
            {
              exp_labels: { severity: 'page' },
              exp_annotations: {
                ...annotations,
                summary: 'An operation has been open 1h 13m 20s, past every deadline',
              },
            },
          ],
        },
      ],
    );
    expect(res).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });
});

describe('region-agent alert rules', () => {
  it('pages for an agent without NATS for 5 minutes', () => {
    const alertname = 'AgentNatsDisconnected';
    const annotations = annotationsOf('region-agent', alertname);
    const res = promtoolTest(
      'region-agent',
      [{ series: 'agent_nats_connected{namespace="addons",pod="agent-0"}', values: '1 1 0x10' }],
      [
        { alertname, eval_time: '4m', exp_alerts: [] },
        {
          alertname,
          eval_time: '10m',
          exp_alerts: [
            {
              exp_labels: { severity: 'page', namespace: 'addons', pod: 'agent-0' },
              exp_annotations: {
                ...annotations,
                summary: 'Agent agent-0 has lost its NATS connection',
              },
            },
          ],
        },
      ],
    );
    expect(res).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });
});
