/**
 * connectNats against a nats-server that requires JWT credentials (operator mode): both
 * deployables connect with NATS_CREDS_FILE, and without it they are refused.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectNats, natsConnectionOptions } from '../../shared/src/nats.js';
import { freePort, waitFor } from '../../shared/src/ports.js';
import { startJwtNats, type JwtNats } from '../support/nats-jwt.js';
import { startStack } from '../support/control-plane.js';

const dir = mkdtempSync(join(tmpdir(), 'nats-jwt-'));
let server: JwtNats;

beforeAll(async () => {
  server = await startJwtNats(dir);
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('connectNats', () => {
  it('authenticates with a creds file and uses JetStream', async () => {
    const nc = await connectNats({
      url: server.url,
      name: 'creds-test',
      credsFile: server.credsFile,
      inboxPrefix: '_INBOX_test',
    });
    try {
      const jsm = await nc.jetstreamManager();
      expect((await jsm.getAccountInfo()).streams).toBe(0);
    } finally {
      await nc.close();
    }
  });

  it('is refused without the creds file', async () => {
    await expect(connectNats({ url: server.url, name: 'no-creds' })).rejects.toThrow(
      /Authorization/i,
    );
  });

  it('rejects an inbox prefix with wildcards and creds mixed with a user', () => {
    expect(() =>
      natsConnectionOptions({ url: server.url, name: 'x', inboxPrefix: '_INBOX.>' }),
    ).toThrow(/subject tokens/);
    expect(() =>
      natsConnectionOptions({ url: server.url, name: 'x', credsFile: server.credsFile, user: 'u' }),
    ).toThrow(/not both/);
  });

  it('the control plane connects with NATS_CREDS_FILE and answers /readyz', async () => {
    const stack = await startStack({ NATS_URL: server.url, NATS_CREDS_FILE: server.credsFile });
    try {
      expect(stack.plane.nc.getServer()).toContain(server.url.replace('nats://', ''));
      expect((await fetch(`${stack.url}/readyz`)).status).toBe(200);
    } finally {
      await stack.stop();
    }
  });

  it('the region agent connects with NATS_CREDS_FILE and becomes ready', async () => {
    const healthPort = await freePort();
    const child = spawn(
      join(process.cwd(), 'node_modules/.bin/tsx'),
      ['region-agent/src/main.ts'],
      {
        env: {
          ...process.env,
          AGENT_REGION: 'us-east',
          AGENT_ID: 'creds-test',
          NATS_URL: server.url,
          NATS_CREDS_FILE: server.credsFile,
          AGENT_DATA_DIR: join(dir, 'agent'),
          HEALTH_PORT: String(healthPort),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    try {
      // The agent only checks the streams; the control plane (above) created them.
      await waitFor(
        async () =>
          (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.ok ??
          false,
        'agent /readyz',
        30_000,
        200,
      );
      expect(output).toContain('"inboxPrefix":"_INBOX_us-east"');
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });
});
