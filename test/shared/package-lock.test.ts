/**
 * `npm ci` (what .ci/run uses) needs a lock that matches package.json and lists every
 * platform's optional binaries; a lock written where some were missing installs here but
 * is rewritten by `npm install` on a fresh clone (issue #15, item 8).
 */
import { readFileSync } from 'node:fs';

interface Entry {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}
const read = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;
const pkg = read<Entry>('package.json');
const lock = read<{ lockfileVersion: number; packages: Record<string, Entry> }>(
  'package-lock.json',
);

it('records exactly the dependencies package.json declares', () => {
  expect(lock.lockfileVersion).toBe(3);
  const root = lock.packages['']!;
  expect(root.dependencies).toEqual(pkg.dependencies);
  expect(root.devDependencies).toEqual(pkg.devDependencies);
});

it('has an entry for every optional dependency of every locked package, on every platform', () => {
  const missing: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    for (const dep of Object.keys(entry.optionalDependencies ?? {})) {
      const nested = `${path ? `${path}/` : ''}node_modules/${dep}`;
      if (!lock.packages[nested] && !lock.packages[`node_modules/${dep}`])
        missing.push(`${path || '(root)'} → ${dep}`);
    }
  }
  expect(missing).toEqual([]);
});
