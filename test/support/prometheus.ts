/** Reading Prometheus text exposition and rule files in tests. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';

export interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a scrape (HELP/TYPE lines skipped). */
export function parseExposition(text: string): Series[] {
  const series: Series[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!;
    series.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return series;
}

/** The one sample of `name` whose labels include `labels`; throws when there is none. */
export function sample(all: Series[], name: string, labels: Record<string, string> = {}): number {
  const found = all.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length === 0) throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
  return found.reduce((sum, s) => sum + s.value, 0);
}

export interface RuleGroup {
  name: string;
  rules: Array<{
    alert?: string;
    record?: string;
    expr: string;
    annotations?: Record<string, string>;
  }>;
}

/** Metric names (ours: addon_*, agent_*) an expression reads; recording rules use colons. */
export function metricsIn(expr: string): string[] {
  return [...new Set(expr.match(/(?<![\w:])(?:addon|agent)_[a-z0-9_]+/g) ?? [])];
}

/** `promtool check rules` on the groups, or undefined when promtool is not installed. */
export function promtoolCheck(groups: RuleGroup[]): { status: number; output: string } | undefined {
  if (spawnSync('promtool', ['--version']).error) return undefined;
  const file = join(mkdtempSync(join(tmpdir(), 'rules-')), 'rules.yaml');
  writeFileSync(file, dump({ groups }));
  const res = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
  return { status: res.status ?? -1, output: `${res.stdout}${res.stderr}` };
}
