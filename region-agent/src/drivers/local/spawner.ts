/**
 * Starts server processes through one long-lived bash, which forks them. `child_process.spawn`
 * forks the whole agent (the page tables of a 160 MB process) and blocks until the child has
 * exec'd: 12-16 ms each (p50; p90 24-33) under ten provisions at once on the bench machine, and
 * from one spawning thread (the agent's own thread stalled every other job) ten instances
 * starting together queued behind each other's spawns, the last ~150 ms. Forking the 4 MB shell
 * takes a fraction of a millisecond; it answers with the pid at once and forks the next while
 * the first is still loading. Each spawn still resolves only once its child runs the server,
 * as spawn did. The children are the same detached processes, in their own session
 * (`setsid`), outliving the agent; the shell reaps those that end while it runs, as the agent
 * did for those it forked.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import {
  accessSync,
  constants,
  existsSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  statSync,
} from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

export interface Spawner {
  /** The new process's pid; rejects when it could not be started. */
  spawn(command: { bin: string; args: string[] }, cwd: string): Promise<number>;
}

/** One word for bash, whatever it holds. */
const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

const executable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
};

/** A binary as PATH finds it, and the file it is (symlinks resolved, as /proc/pid/exe reads). */
interface Bin {
  path: string;
  real: string;
}

/** `bin` as PATH finds it, so a missing server is refused here, as spawn's ENOENT was. */
function resolveBin(bin: string, cache: Map<string, Bin>): Bin | undefined {
  const known = cache.get(bin);
  if (known) return known;
  const found = bin.includes('/')
    ? executable(bin) && isAbsolute(bin)
      ? bin
      : undefined
    : (process.env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, bin))
        .find(executable);
  if (!found) return undefined; // it may be installed later: only hits are kept
  const resolved = { path: found, real: realpathSync(found) };
  cache.set(bin, resolved);
  return resolved;
}

/** Without procfs (macOS) there is no exec to watch for: the pid is the answer. */
const PROCFS = existsSync('/proc/self/exe');

const isDirectory = (path: string): boolean => {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
};

/**
 * The line that starts one server: a subshell in its directory that becomes it (exec setsid:
 * no fork of its own, as the subshell leads no process group), stdio on /dev/null, and the
 * shell prints its pid.
 */
const startLine = (bin: string, args: string[], cwd: string): string =>
  `( cd -- ${quote(cwd)} && exec setsid -- ${[bin, ...args].map(quote).join(' ')} ` +
  `</dev/null >/dev/null 2>&1 ) & echo "$!"\n`;

/** The shell's own environment: no start-up file or shell option of the agent's applies. */
function shellEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['BASH_ENV', 'ENV', 'SHELLOPTS', 'BASHOPTS']) delete env[name];
  return env;
}

type Shell = ChildProcessByStdio<Writable, Readable, null>;

/** The spawning shell's argv[0]: what its subshells read as until they exec. */
const SHELL_NAME = 'addon-agent-spawner';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves once `pid` runs `real` (its executable, symlinks resolved), as spawn returned only
 * after the exec: until then it is the shell's subshell, which a liveness check by command
 * line would not recognise. Rejects when it ended first (the exec failed, or its directory
 * went). Polls, 1 ms doubling to 16: the agent's thread does not wait meanwhile.
 */
async function untilExecd(
  pid: number,
  real: string,
  bin: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 16)) {
    let exe: string;
    try {
      exe = readlinkSync(`/proc/${pid}/exe`);
    } catch {
      throw new Error(`${bin} did not start (exited at once)`);
    }
    // The subshell is the shell until its exec (which matters when the server is bash too).
    if (exe === real && !readFileSync(`/proc/${pid}/cmdline`, 'latin1').startsWith(SHELL_NAME))
      return;
    if (Date.now() > deadline) throw new Error(`${bin} did not start in ${timeoutMs} ms`);
    await sleep(delay);
  }
}

export function createSpawner(): Spawner {
  let shell: Shell | undefined;
  let buffered = '';
  const waiting: Array<{ resolve(pid: number): void; reject(err: Error): void }> = [];
  const bins = new Map<string, Bin>();

  function failAll(err: Error): void {
    for (const w of waiting.splice(0)) w.reject(err);
    shell = undefined;
    buffered = '';
  }

  /** Held open only while a spawn is pending: an idle agent can still exit. */
  function hold(sh: Shell, on: boolean): void {
    // Its pipes are sockets: each holds the event loop open as the process does.
    for (const h of [sh, sh.stdin as Socket, sh.stdout as Socket]) {
      if (on) h.ref();
      else h.unref();
    }
  }

  function answered(chunk: string): void {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const pid = Number(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      const entry = waiting.shift();
      if (Number.isInteger(pid) && pid > 0) entry?.resolve(pid);
      else entry?.reject(new Error('the spawning shell gave no pid'));
    }
  }

  function started(): Shell {
    if (shell) return shell;
    const sh = spawn('bash', ['--norc', '--noprofile'], {
      argv0: SHELL_NAME,
      stdio: ['pipe', 'pipe', 'ignore'],
      env: shellEnv(),
    });
    sh.stdout.setEncoding('utf8');
    sh.stdout.on('data', (chunk: string) => {
      answered(chunk);
      if (waiting.length === 0 && shell === sh) hold(sh, false);
    });
    sh.stdin.on('error', () => undefined); // it exited: 'exit' rejects what waits
    sh.on('error', (err) => failAll(err));
    sh.on('exit', () => {
      if (shell === sh) failAll(new Error('the spawning shell exited'));
    });
    shell = sh;
    return sh;
  }

  return {
    spawn(command, cwd): Promise<number> {
      const bin = resolveBin(command.bin, bins);
      if (!bin) return Promise.reject(new Error(`${command.bin} did not start (ENOENT)`));
      if (!isDirectory(cwd)) return Promise.reject(new Error(`${cwd} is not a directory`));
      const sh = started();
      hold(sh, true);
      const forked = new Promise<number>((resolve, reject) => {
        waiting.push({ resolve, reject });
        sh.stdin.write(startLine(bin.path, command.args, cwd));
      });
      if (!PROCFS) return forked;
      return forked.then(async (pid) => {
        await untilExecd(pid, bin.real, command.bin);
        return pid;
      });
    },
  };
}
