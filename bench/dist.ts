/** Benches run the control plane compiled, as its image does: dist/ with its data files. */
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
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
