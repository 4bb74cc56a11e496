import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../../shared/src/ports.js';
import { isServerAlive, spawnServer } from './process.js';

describe('isServerAlive', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ra-process-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // Regression: redis-server blanks its command line while it sets its title; a readiness
  // wait that looked at that moment reported "exited before becoming ready".
  it('keeps seeing a starting redis-server as alive while it rewrites its title', async () => {
    for (let n = 0; n < 10; n++) {
      const args = ['--port', String(await freePort()), '--save', '', '--appendonly', 'no'];
      const pid = await spawnServer({ bin: 'redis-server', args }, dir);
      const until = performance.now() + 40;
      let alive = true;
      while (alive && performance.now() < until) alive = isServerAlive(pid, 'redis-server');
      process.kill(pid, 'SIGKILL');
      expect(alive).toBe(true);
    }
  });

  it('sees a killed server as gone', async () => {
    const args = ['--port', String(await freePort()), '--save', '', '--appendonly', 'no'];
    const pid = await spawnServer({ bin: 'redis-server', args }, dir);
    process.kill(pid, 'SIGKILL');
    for (let n = 0; n < 100 && isServerAlive(pid, 'redis-server'); n++)
      await new Promise((r) => setTimeout(r, 20));
    expect(isServerAlive(pid, 'redis-server')).toBe(false);
  });
});
