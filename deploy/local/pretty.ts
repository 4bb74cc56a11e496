/**
 * Human-readable logs for the local stack: each pino JSON line of a child process becomes
 * `12:03:04 INFO  control-plane  instance ready  resourceId=… region=…`. Other lines pass
 * through untouched. `LOG_FORMAT=json` keeps the JSON lines (what production emits).
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const COLOURS: Record<number, string> = { 40: '\x1b[33m', 50: '\x1b[31m', 60: '\x1b[31m' };
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'service', 'name']);

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

interface ErrLike {
  message?: string;
  stack?: string;
}

function time(t: unknown): string {
  const d = new Date(typeof t === 'string' || typeof t === 'number' ? t : Date.now());
  return Number.isNaN(d.getTime()) ? '--:--:--' : d.toISOString().slice(11, 19);
}

function parse(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const entry = JSON.parse(line) as Record<string, unknown>;
    return typeof entry.msg === 'string' ? entry : undefined;
  } catch {
    return undefined;
  }
}

function levelLabel(level: number, colour: boolean): string {
  const label = (LEVELS[level] ?? String(level)).padEnd(5);
  return colour && COLOURS[level] ? `${COLOURS[level]}${label}\x1b[0m` : label;
}

function fieldsOf(entry: Record<string, unknown>): string[] {
  const fields = Object.entries(entry)
    .filter(([k]) => !HIDDEN.has(k) && k !== 'err')
    .map(([k, v]) => `${k}=${value(v)}`);
  const err = entry.err as ErrLike | undefined;
  if (err?.message) fields.push(`err=${value(err.message)}`);
  return fields;
}

/** One pino line as text; undefined when the line is not a pino JSON object. */
export function formatLine(line: string, colour = false): string | undefined {
  const entry = parse(line);
  if (!entry) return undefined;
  const level = typeof entry.level === 'number' ? entry.level : 30;
  const service = typeof entry.service === 'string' ? `  ${entry.service}` : '';
  const head = `${time(entry.time)} ${levelLabel(level, colour)}${service}  ${String(entry.msg)}`;
  const fields = fieldsOf(entry);
  const text = fields.length ? `${head}  ${fields.join(' ')}` : head;
  const stack = (entry.err as ErrLike | undefined)?.stack;
  return level >= 50 && stack ? `${text}\n${indent(stack)}` : text;
}

const indent = (s: string): string =>
  s
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

/** Copies `input` to `output` line by line, formatting pino lines. */
export function prettyPipe(input: Readable, output: Writable & { isTTY?: boolean }): void {
  const colour = Boolean(output.isTTY);
  const lines = createInterface({ input, crlfDelay: Infinity });
  lines.on('line', (line) => {
    output.write(`${formatLine(line, colour) ?? line}\n`);
  });
}

/** Whether the stack's children log JSON as they are (LOG_FORMAT=json) or human-readable. */
export const wantsJson = (env: Record<string, string | undefined>): boolean =>
  (env.LOG_FORMAT ?? '').toLowerCase() === 'json';
