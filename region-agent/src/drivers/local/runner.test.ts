import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidFileWake } from './runner.js';

const dir = mkdtempSync(join(tmpdir(), 'ra-wake-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pidFileWake', () => {
  it('ends the pause when the server writes its pid file, and not for other files', async () => {
    const wake = pidFileWake(join(dir, 'redis.pid'));
    try {
      let started = performance.now();
      const other = wake.after(300);
      writeFileSync(join(dir, 'state.json'), '{}');
      await other;
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);

      started = performance.now();
      const pid = wake.after(10_000);
      setTimeout(() => writeFileSync(join(dir, 'redis.pid'), '4242\n'), 20);
      await pid;
      expect(performance.now() - started).toBeLessThan(2_000);
    } finally {
      wake.close();
    }
  });

  it('is a plain pause where the directory cannot be watched', async () => {
    const wake = pidFileWake(join(dir, 'missing', 'redis.pid'));
    const started = performance.now();
    await wake.after(50);
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    wake.close();
  });
});
