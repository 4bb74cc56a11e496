import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  readLocalStack,
  removeLocalStack,
  stackFile,
  withLocalStack,
  writeLocalStack,
  type LocalStack,
} from './local-stack.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'local-stack-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const stack: LocalStack = {
  version: 1,
  pid: 4242,
  startedAt: '2026-12-02T10:00:00.000Z',
  env: { DATABASE_URL: 'postgres://postgres@127.0.0.1:5999/postgres', NATS_URL: 'nats://x:1' },
  urls: { controlPlane: 'http://127.0.0.1:5000', herokuSim: 'http://127.0.0.1:5001' },
  pids: { postgres: 4243 },
  agentDataDir: '/tmp/agent',
};

it('fills only the variables the environment leaves unset, and says where from', () => {
  const path = writeLocalStack(dir, stack);
  expect(statSync(path).mode & 0o777).toBe(0o600);
  const { env, from } = withLocalStack({ LOCAL_DATA_DIR: dir, NATS_URL: 'nats://mine:4222' });
  expect(env.DATABASE_URL).toBe(stack.env.DATABASE_URL);
  expect(env.NATS_URL).toBe('nats://mine:4222');
  expect(from).toBe(stackFile(dir));
});

it('changes nothing without a settings file, or when everything is set', () => {
  expect(withLocalStack({ LOCAL_DATA_DIR: dir })).toEqual({ env: { LOCAL_DATA_DIR: dir } });
  writeLocalStack(dir, stack);
  const all = { LOCAL_DATA_DIR: dir, DATABASE_URL: 'a', NATS_URL: 'b' };
  expect(withLocalStack(all).from).toBeUndefined();
  removeLocalStack(dir);
  expect(readLocalStack(dir)).toBeUndefined();
});

it('refuses a file that is not a settings file', () => {
  writeFileSync(stackFile(dir), '{"version":2}');
  expect(() => readLocalStack(dir)).toThrow(/not a stack settings file/);
});
