import { tmpdir } from 'node:os';
import { createSpawner } from './spawner.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('createSpawner', () => {
  it('starts a detached process in its own session and reaps it when it ends', async () => {
    const spawner = createSpawner();
    const pid = await spawner.spawn({ bin: 'sleep', args: ['30'] }, tmpdir());
    expect(alive(pid)).toBe(true);
    process.kill(pid, 'SIGKILL');
    // Reaped by the spawner's thread: no zombie left answering signal 0.
    for (let n = 0; n < 100 && alive(pid); n++) await new Promise((r) => setTimeout(r, 20));
    expect(alive(pid)).toBe(false);
  });

  it('rejects when the binary cannot be started', async () => {
    await expect(
      createSpawner().spawn({ bin: '/nonexistent/server', args: [] }, tmpdir()),
    ).rejects.toThrow(/did not start|ENOENT/);
  });
});
