/**
 * The Dockerfiles cannot be built here (no Docker engine), so their contract is checked
 * statically: base image, non-root user, entrypoints that exist as sources, and data files
 * copied to where the compiled code resolves them (dist/ mirrors the repository layout, so a
 * file the source reads at <path> is read from dist/<path> in the image).
 */
import { existsSync, readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { dirname, join, relative, resolve } from 'node:path';
import { DEFAULT_CATALOG_PATH } from '../../control-plane/src/catalog/load.js';
import { MANIFEST_PATH } from '../../control-plane/src/config.js';
import { MIGRATIONS_DIR } from '../../control-plane/src/db/migrate.js';
import { controlPlaneImageNodeOptions } from '../../bench/dist.js';
import { REPO_ROOT } from './helm.js';

interface Stage {
  from: string;
  name?: string;
  lines: string[];
}

function stages(dockerfile: string): Stage[] {
  const text = readFileSync(join(REPO_ROOT, 'deploy', 'docker', dockerfile), 'utf8').replace(
    /\\\n/g,
    ' ',
  );
  const out: Stage[] = [];
  const args: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const arg = /^ARG (\w+)=(\S+)/.exec(line);
    if (arg && out.length === 0) args[arg[1]!] = arg[2]!;
    const from = /^FROM (\S+)(?: AS (\S+))?/i.exec(line);
    if (from) {
      const image = from[1]!.replace(/\$\{(\w+)\}/g, (_, n: string) => args[n] ?? '');
      out.push({ from: image, ...(from[2] ? { name: from[2] } : {}), lines: [] });
    } else {
      out.at(-1)?.lines.push(line);
    }
  }
  return out;
}

/** Source paths of plain `COPY <src...> <dest>` lines (not --from) in a stage. */
function copies(stage: Stage): Array<{ srcs: string[]; dest: string }> {
  return stage.lines
    .filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
    .map((l) => {
      const parts = l
        .split(/\s+/)
        .slice(1)
        .filter((p) => !p.startsWith('--'));
      return { srcs: parts.slice(0, -1), dest: parts.at(-1)! };
    });
}

function cmd(stage: Stage): string[] {
  const line = stage.lines.find((l) => l.startsWith('CMD '));
  return line ? (JSON.parse(line.slice(4)) as string[]) : [];
}

const repoPath = (abs: string): string => relative(REPO_ROOT, abs);

/** Repository paths of the sources reachable from `entry` through relative imports. */
function reachableSources(entry: string): string[] {
  const seen = new Set<string>();
  const queue = [join(REPO_ROOT, entry)];
  for (let file = queue.pop(); file; file = queue.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(
      /(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)\.js'/g,
    )) {
      queue.push(resolve(dirname(file), `${m[1]}.ts`));
    }
  }
  return [...seen].map(repoPath);
}

describe.each([
  { file: 'control-plane.Dockerfile', main: 'control-plane/src/main', port: '5000' },
  { file: 'region-agent.Dockerfile', main: 'region-agent/src/main', port: '8080' },
])('$file', ({ file, main, port }) => {
  const all = stages(file);
  const runtime = all.at(-1)!;

  it('builds on Node 22 LTS bookworm-slim in several stages', () => {
    expect(all.length).toBeGreaterThanOrEqual(2);
    for (const s of all) expect(s.from).toBe('node:22-bookworm-slim');
    expect(all.slice(0, -1).some((s) => s.lines.some((l) => l.includes('npm run build')))).toBe(
      true,
    );
    expect(all.some((s) => s.lines.some((l) => l.includes('npm ci --omit=dev')))).toBe(true);
  });

  it('runs as a non-root numeric user', () => {
    const users = runtime.lines.filter((l) => l.startsWith('USER '));
    expect(users).toHaveLength(1);
    expect(users[0]).toMatch(/^USER [1-9]\d*:[1-9]\d*$/);
  });

  it('starts the compiled main of an existing source file and exposes its port', () => {
    expect(cmd(runtime)).toEqual(['node', `dist/${main}.js`]);
    expect(existsSync(join(REPO_ROOT, `${main}.ts`))).toBe(true);
    expect(runtime.lines).toContain(`EXPOSE ${port}`);
  });

  it('copies only sources that exist', () => {
    for (const stage of all) {
      for (const { srcs } of copies(stage)) {
        for (const src of srcs)
          expect({ src, exists: existsSync(join(REPO_ROOT, src)) }).toEqual({ src, exists: true });
      }
    }
  });

  it('copies every source the entrypoint imports into the build stage', () => {
    const copied = all.slice(0, -1).flatMap((stage) => copies(stage).flatMap((c) => c.srcs));
    const missing = reachableSources(`${main}.ts`).filter(
      (src) => !copied.some((dir) => src.startsWith(`${dir}/`)),
    );
    expect(missing).toEqual([]);
  });

  it('ships nothing but package.json, node_modules, dist and data files under dist/', () => {
    for (const { srcs, dest } of copies(runtime)) {
      for (const src of srcs) {
        if (src === 'package.json') continue;
        // dist/ mirrors the repository: a data file at <path> is read from dist/<path>.
        expect({ src, dest }).toEqual({ src, dest: `dist/${src}` });
      }
    }
    const fromStages = runtime.lines.filter((l) => l.includes('--from='));
    expect(fromStages.map((l) => l.split(/\s+/).at(-1)).sort()).toEqual(['dist', 'node_modules']);
  });
});

describe('control-plane image data files', () => {
  it('has the catalog, the migrations and the manifest where the compiled code reads them', () => {
    const runtime = stages('control-plane.Dockerfile').at(-1)!;
    const shipped = copies(runtime).map((c) => c.dest);
    for (const path of [DEFAULT_CATALOG_PATH, MIGRATIONS_DIR, MANIFEST_PATH]) {
      expect(shipped).toContain(`dist/${repoPath(path)}`);
    }
  });

  it('has the migrations entrypoint the Helm hook Job runs', () => {
    const values = readFileSync(join(REPO_ROOT, 'charts', 'control-plane', 'values.yaml'), 'utf8');
    const command = /command: \["node", "dist\/(.+)\.js"\]/.exec(values);
    expect(command?.[1]).toBe('control-plane/src/migrate-main');
    expect(existsSync(join(REPO_ROOT, `${command![1]}.ts`))).toBe(true);
  });

  it('caps the heap at half the memory limit the chart sets, and the benches run with it', () => {
    const env = stages('control-plane.Dockerfile')
      .at(-1)!
      .lines.filter((l) => l.startsWith('ENV '))
      .join(' ');
    const heapMb = Number(/NODE_OPTIONS=--max-old-space-size=(\d+)(?:\s|$)/.exec(env)?.[1]);
    const values = load(
      readFileSync(join(REPO_ROOT, 'charts', 'control-plane', 'values.yaml'), 'utf8'),
    ) as { resources: { limits: { memory: string } } };
    const limitMi = Number(/^(\d+)Mi$/.exec(values.resources.limits.memory)?.[1]);
    expect(heapMb).toBeGreaterThanOrEqual(128);
    expect(heapMb).toBeLessThanOrEqual(limitMi / 2);
    expect(controlPlaneImageNodeOptions()).toBe(`--max-old-space-size=${heapMb}`);
  });
});
