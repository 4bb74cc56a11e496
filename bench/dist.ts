/** Benches run the control plane compiled, as its image does: dist/ with its data files. */
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

let built = false;

/** Once per bench run (bench/run.ts runs several benches in one process). */
export function buildDist(say: (s: string) => void): void {
  if (built) return;
  built = true;
  say('compiling dist/ (npm run build)…');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  cpSync(join(root, 'control-plane/catalog.json'), join(root, 'dist/control-plane/catalog.json'));
  // Replaced, not merged: a migration renamed or removed since the last build must not stay.
  rmSync(join(root, 'dist/control-plane/migrations'), { recursive: true, force: true });
  cpSync(join(root, 'control-plane/migrations'), join(root, 'dist/control-plane/migrations'), {
    recursive: true,
  });
  cpSync(join(root, 'addon-manifest.json'), join(root, 'dist/addon-manifest.json'));
}

/**
 * The NODE_OPTIONS the control plane's image sets (its Dockerfile's runtime ENV): the benches
 * run it with them, as its pods run.
 */
export function controlPlaneImageNodeOptions(): string {
  const dockerfile = 'deploy/docker/control-plane.Dockerfile';
  const options = /^\s*(?:ENV\s+)?NODE_OPTIONS=(\S+)/m.exec(
    readFileSync(join(root, dockerfile), 'utf8'),
  )?.[1];
  if (!options) throw new Error(`no NODE_OPTIONS in ${dockerfile}`);
  return options;
}
