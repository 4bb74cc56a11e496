import { readFileSync, readlinkSync, realpathSync } from 'node:fs';
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

/** Session id and parent of a live process (/proc/<pid>/stat fields 4 and 6). */
function sessionOf(pid: number): { ppid: number; sid: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(fields[1]), sid: Number(fields[3]) };
}

describe('createSpawner', () => {
  it('starts a detached process in its own session and reaps it when it ends', async () => {
    const spawner = createSpawner();
    const pid = await spawner.spawn({ bin: 'sleep', args: ['30'] }, tmpdir());
    expect(alive(pid)).toBe(true);
    process.kill(pid, 'SIGKILL');
    // Reaped by the spawning shell: no zombie left answering signal 0.
    for (let n = 0; n < 100 && alive(pid); n++) await new Promise((r) => setTimeout(r, 20));
    expect(alive(pid)).toBe(false);
  });

  it('resolves each of many spawns at once with a pid already running the server, in its directory and its own session', async () => {
    const spawner = createSpawner();
    const sleepBin = realpathSync('/bin/sleep');
    const pids = await Promise.all(
      Array.from({ length: 8 }, () => spawner.spawn({ bin: 'sleep', args: ['30'] }, tmpdir())),
    );
    try {
      expect(new Set(pids).size).toBe(8);
      for (const pid of pids) {
        expect(readlinkSync(`/proc/${pid}/exe`)).toBe(sleepBin);
        expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('30');
        expect(readlinkSync(`/proc/${pid}/cwd`)).toBe(realpathSync(tmpdir()));
        const { sid, ppid } = sessionOf(pid);
        expect(sid).toBe(pid);
        expect(ppid).not.toBe(process.pid);
      }
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGKILL');
    }
  });

  it('passes arguments through as words, whatever they hold', async () => {
    const odd = `it's "quoted" $HOME; echo no`;
    // bash -c '…' name odd: the server stays bash, with `odd` as its $1.
    const args = ['-c', 'sleep 30; :', 'name', odd];
    const pid = await createSpawner().spawn({ bin: 'bash', args }, tmpdir());
    try {
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain(odd);
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });

  it('rejects when the binary cannot be started', async () => {
    await expect(
      createSpawner().spawn({ bin: '/nonexistent/server', args: [] }, tmpdir()),
    ).rejects.toThrow(/did not start|ENOENT/);
  });

  it('rejects when the directory is missing', async () => {
    await expect(
      createSpawner().spawn({ bin: 'sleep', args: ['30'] }, '/nonexistent/dir'),
    ).rejects.toThrow(/not a directory/);
  });
});
