/** The CLI as a process: `serve` prints a working URL and stops on SIGINT; `conformance` sets the exit code. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startFakePartner } from './fake-partner.js';
import { DEV_ADDON } from '../support/control-plane.js';

const TSX = join(process.cwd(), 'node_modules/.bin/tsx');
const creds = DEV_ADDON;

function run(
  args: string[],
  onStdout?: (text: string, kill: () => void) => void,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(TSX, ['test/heroku-sim/main.ts', ...args], {
      cwd: process.cwd(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      onStdout?.(stdout, () => child.kill('SIGINT'));
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

it('serve prints its URL, answers like the Platform API, and exits 0 on SIGINT', async () => {
  let checked: Promise<number> | undefined;
  const result = await run(['serve', '--port', '0'], (text, kill) => {
    const m = /listening on (http:\/\/\S+)/.exec(text);
    if (m && !checked)
      checked = fetch(`${m[1]}/addons/x`)
        .then((r) => r.status)
        .finally(kill);
  });
  expect(await checked).toBe(400); // no `Accept: …version=3`
  expect(result.code).toBe(0);
});

it('conformance prints PASS/FAIL per item and exits non-zero on a failure', async () => {
  const good = await startFakePartner({ ...creds, plans: ['standard', 'premium'] });
  const bad = await startFakePartner({
    ...creds,
    plans: ['standard', 'premium'],
    faults: { deleteTwiceFails: true },
  });
  try {
    const ok = await run(['conformance', '--url', good.url, '--password', creds.password]);
    expect(ok.stdout).toMatch(/^PASS {2}provision answers 2xx with an id/m);
    expect(ok.stdout).not.toMatch(/^FAIL/m);
    expect(ok.code).toBe(0);
    const ko = await run([
      'conformance',
      '--url',
      bad.url,
      '--plan',
      'standard',
      '--other-plan',
      'premium',
      '--region',
      'amazon-web-services::eu-west-1',
    ]);
    expect(ko.stdout).toMatch(/^FAIL {2}repeated deprovision answers 2xx — status 500/m);
    expect(ko.code).toBe(1);
  } finally {
    await Promise.all([good.close(), bad.close()]);
  }
});
