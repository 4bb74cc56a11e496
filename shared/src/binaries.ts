/**
 * Finds the system binaries the local stack, the tests and the agent's local driver need,
 * installing them with apt-get when we are root, otherwise failing with the package names
 * to install.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const PACKAGES: Record<string, string> = {
  postgres: 'postgresql',
  initdb: 'postgresql',
  'nats-server': 'nats-server',
  'redis-server': 'redis-server',
};

function onPath(name: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const found = r.stdout.trim();
  return r.status === 0 && found ? found : undefined;
}

function postgresBin(name: string): string | undefined {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) {
      const candidate = `${root}/${v}/bin/${name}`;
      if (existsSync(candidate)) return candidate;
    }
  }
  return onPath(name);
}

function locate(name: string): string | undefined {
  return name === 'postgres' || name === 'initdb' ? postgresBin(name) : onPath(name);
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Path of a required binary; installs its package when root. */
export function requireBinary(name: string, log: (line: string) => void = () => {}): string {
  const found = locate(name);
  if (found) return found;
  const pkg = PACKAGES[name] ?? name;
  if (!isRoot()) {
    throw new Error(
      `${name} not found: install the Debian package "${pkg}" (apt-get install -y ${pkg})`,
    );
  }
  log(`installing ${pkg} with apt-get`);
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], {
    stdio: 'ignore',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  const after = locate(name);
  if (!after) throw new Error(`${name} still not found after installing ${pkg}`);
  return after;
}
