import { PassThrough } from 'node:stream';
import { formatLine, prettyPipe, wantsJson } from './pretty.js';

const line = (o: Record<string, unknown>): string => JSON.stringify(o);

it('turns a pino line into time, level, service, message and fields', () => {
  const text = formatLine(
    line({
      level: 30,
      time: '2026-12-02T13:47:10.123Z',
      pid: 1,
      hostname: 'h',
      service: 'control-plane',
      msg: 'instance ready',
      resourceId: 'abc',
      note: 'two words',
    }),
  );
  expect(text).toBe(
    '13:47:10 INFO   control-plane  instance ready  resourceId=abc note="two words"',
  );
});

it('shows an error message, and the stack from level error up', () => {
  const err = { type: 'Error', message: 'boom', stack: 'Error: boom\n    at x' };
  expect(formatLine(line({ level: 40, msg: 'retry', err }))).toMatch(/WARN .* retry {2}err=boom$/);
  expect(formatLine(line({ level: 50, msg: 'failed', err }))).toContain('\n    Error: boom\n');
});

it('leaves other lines alone', () => {
  expect(formatLine('[4/6] control plane: starting')).toBeUndefined();
  expect(formatLine('{not json')).toBeUndefined();
  expect(formatLine('{"a":1}')).toBeUndefined();
});

it('pipes line by line; LOG_FORMAT=json keeps JSON', async () => {
  const input = new PassThrough();
  const output = new PassThrough();
  prettyPipe(input, output);
  input.end(`plain\n${line({ level: 30, time: 0, msg: 'hi' })}\n`);
  await new Promise((r) => setImmediate(r));
  expect(output.read()?.toString()).toBe('plain\n00:00:00 INFO   hi\n');
  expect(wantsJson({ LOG_FORMAT: 'JSON' })).toBe(true);
  expect(wantsJson({})).toBe(false);
});
