/**
 * The Helm charts, checked with the real helm (unzipped from a devDependency): lint, render
 * with the defaults and every example, validate every object against the Kubernetes OpenAPI
 * schema, and hold the charts to the deployables they run (env names, ports, RBAC).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTROL_PLANE_ENV_VARS } from '../../control-plane/src/config.js';
import { AGENT_ENV_VARS } from '../../region-agent/src/config.js';
import { TRACING_ENV_VARS } from '../../shared/src/tracing/start.js';
import { KUBE_CALLS } from '../../region-agent/src/drivers/kubernetes/calls.js';
import {
  CHARTS_DIR,
  FIXTURES_DIR,
  exampleValues,
  lintChart,
  renderChart,
  renderNotes,
  templateChart,
  type K8sObject,
  type RenderOptions,
} from './helm.js';
import { schemaProblems } from './kube-schema.js';
import {
  containerEnvNames,
  deploymentTemplate,
  envValue,
  ofKind,
  one,
  podSpecs,
  spec,
  type Container,
  type RoleRule,
} from './objects.js';

const CHARTS = ['control-plane', 'region-agent'] as const;
type Chart = (typeof CHARTS)[number];

const secret = (): string => randomBytes(24).toString('base64url');

/** The all-env fixtures' secret values, generated here rather than committed. */
const FIXTURE_SECRETS: Record<Chart, Record<string, string>> = {
  'control-plane': {
    DATABASE_URL: `postgres://cp:${secret()}@postgres:5432/cp`,
    ADDON_PASSWORD: secret(),
    SSO_SALT: secret(),
    OAUTH_CLIENT_SECRET: secret(),
    ENCRYPTION_KEY: `k1:${randomBytes(32).toString('base64')}`,
    SESSION_SECRET: secret(),
  },
  'region-agent': { NATS_PASSWORD: secret() },
};

/** Every values set a chart is rendered with: defaults, each example, the all-env fixture. */
function cases(chart: Chart): Array<{ name: string; opts: RenderOptions }> {
  const set = Object.fromEntries(
    Object.entries(FIXTURE_SECRETS[chart]).map(([k, v]) => [`secret.values.${k}`, v]),
  );
  return [
    { name: 'default values', opts: {} },
    ...exampleValues(chart).map((file) => ({
      name: file.split('/').pop()!,
      opts: { valuesFiles: [file] },
    })),
    {
      name: `${chart}.all-env.values.yaml`,
      opts: { valuesFiles: [join(FIXTURES_DIR, `${chart}.all-env.values.yaml`)], set },
    },
  ];
}

/**
 * values.yaml keys without a `# --` description (helm-docs style) on themselves or on a parent
 * key: a parent's description covers structured defaults such as probes.
 */
function undocumentedValues(chart: Chart): string[] {
  const lines = readFileSync(join(CHARTS_DIR, chart, 'values.yaml'), 'utf8').split('\n');
  const stack: Array<{ indent: number; key: string; documented: boolean }> = [];
  const missing: string[] = [];
  lines.forEach((line, i) => {
    const m = /^( *)([A-Za-z][\w]*):/.exec(line);
    if (!m) return;
    const indent = m[1]!.length;
    while (stack.length > 0 && stack.at(-1)!.indent >= indent) stack.pop();
    let j = i - 1;
    let documented = false;
    while (j >= 0 && /^\s*#/.test(lines[j]!)) documented ||= /^\s*# -- /.test(lines[j--]!);
    documented ||= stack.some((s) => s.documented);
    const path = [...stack.map((s) => s.key), m[2]!].join('.');
    // A key whose value is a nested map is a section: only its leaves need a description.
    const isSection = /^\s*[A-Za-z][\w]*:\s*$/.test(line);
    if (!documented && !isSection) missing.push(path);
    stack.push({ indent, key: m[2]!, documented });
  });
  return missing;
}

const rendered = new Map<string, K8sObject[]>();
function render(chart: Chart, opts: RenderOptions): K8sObject[] {
  const key = JSON.stringify([chart, opts]);
  if (!rendered.has(key)) rendered.set(key, renderChart(chart, opts));
  return rendered.get(key)!;
}

function mainContainer(objects: K8sObject[]): Container {
  const containers = deploymentTemplate(objects).spec.containers;
  expect(containers).toHaveLength(1);
  return containers[0]!;
}

describe('examples', () => {
  it('cover a central control plane and the us-east, eu-west and ap-northeast agents', () => {
    expect(exampleValues('control-plane').length).toBeGreaterThanOrEqual(1);
    const regions = exampleValues('region-agent').map((f) => f.split('/').pop());
    expect(regions).toEqual(
      expect.arrayContaining([
        'region-agent.us-east.values.yaml',
        'region-agent.eu-west.values.yaml',
        'region-agent.ap-northeast.values.yaml',
      ]),
    );
  });
});

describe.each(CHARTS)('chart %s', (chart) => {
  it('documents every value in values.yaml with # --', () => {
    expect(undocumentedValues(chart)).toEqual([]);
  });

  it.each(cases(chart))('passes helm lint --strict with $name', ({ opts }) => {
    const res = lintChart(chart, opts);
    expect(`${res.stdout}${res.stderr}`).toContain('0 chart(s) failed');
    expect(res.status).toBe(0);
  });

  it.each(cases(chart))('renders only schema-valid Kubernetes objects with $name', ({ opts }) => {
    const objects = render(chart, opts);
    expect(objects.length).toBeGreaterThan(0);
    expect(objects.map(schemaProblems).filter(Boolean)).toEqual([]);
  });

  it.each(cases(chart))(
    'runs every pod with the restricted security defaults ($name)',
    ({ opts }) => {
      const pods = podSpecs(render(chart, opts));
      expect(pods.length).toBeGreaterThan(1); // the workload and the helm test pod at least
      for (const { owner, pod } of pods) {
        expect({ owner, ctx: pod.securityContext }).toMatchObject({
          owner,
          ctx: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
        });
        const tmpVolumes = new Set(
          (pod.volumes ?? []).filter((v) => v.emptyDir).map((v) => v.name),
        );
        for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
          expect({ owner, container: c.name, ctx: c.securityContext }).toMatchObject({
            owner,
            container: c.name,
            ctx: {
              runAsNonRoot: true,
              readOnlyRootFilesystem: true,
              allowPrivilegeEscalation: false,
            },
          });
          expect(c.securityContext?.capabilities?.drop).toContain('ALL');
          expect(c.securityContext?.capabilities?.add ?? []).toEqual([]);
          expect(c.securityContext?.privileged ?? false).toBe(false);
          const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
          expect({ owner, tmpIsEmptyDir: tmp !== undefined && tmpVolumes.has(tmp.name) }).toEqual({
            owner,
            tmpIsEmptyDir: true,
          });
        }
      }
    },
  );

  it.each(cases(chart))('prints NOTES.txt with $name', ({ opts }) => {
    const res = renderNotes(chart, opts);
    expect(res.stderr).toBe('');
    const notes = res.stdout.slice(res.stdout.indexOf('NOTES:'));
    expect(notes).toMatch(/^NOTES:\n/);
    expect(notes).toContain('helm test test -n addons');
    expect(notes).not.toMatch(/<no value>|%!/);
  });

  it('has a helm test hook pod', () => {
    const tests = ofKind(render(chart, {}), 'Pod').filter(
      (p) => p.metadata.annotations?.['helm.sh/hook'] === 'test',
    );
    expect(tests).toHaveLength(1);
    expect(JSON.stringify(tests[0]!.spec)).toContain('/readyz');
  });

  it('has a PodDisruptionBudget selecting the workload pods', () => {
    const objects = render(chart, {});
    const selector = spec<{ selector: { matchLabels: Record<string, string> } }>(
      one(objects, 'PodDisruptionBudget'),
    ).selector.matchLabels;
    expect(deploymentTemplate(objects).metadata?.labels).toMatchObject(selector);
  });

  it('rolls pods when the config changes (checksum/config)', () => {
    const a = deploymentTemplate(render(chart, {})).metadata?.annotations?.['checksum/config'];
    const key = chart === 'control-plane' ? 'config.logLevel' : 'agent.logLevel';
    const b = deploymentTemplate(render(chart, { set: { [key]: 'debug' } })).metadata
      ?.annotations?.['checksum/config'];
    expect(a).toMatch(/^[a-f0-9]{64}$/);
    expect(b).toMatch(/^[a-f0-9]{64}$/);
    expect(a).not.toBe(b);
  });

  it('renders no monitoring CRD object unless asked, and a monitor of the workload pods when asked', () => {
    for (const { opts } of cases(chart))
      expect(render(chart, opts).filter((o) => o.apiVersion.startsWith('monitoring.coreos.com'))).toEqual([]);
    const monitor = chart === 'control-plane' ? 'serviceMonitor' : 'podMonitor';
    const objects = render(chart, {
      set: {
        [`metrics.${monitor}.enabled`]: 'true',
        'metrics.prometheusRule.enabled': 'true',
        [`metrics.${monitor}.labels.release`]: 'kube-prometheus-stack',
      },
    });
    const kind = chart === 'control-plane' ? 'ServiceMonitor' : 'PodMonitor';
    const m = one(objects, kind);
    expect(m.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(m.metadata.labels?.release).toBe('kube-prometheus-stack');
    const s = spec<{
      selector: { matchLabels: Record<string, string> };
      endpoints?: Array<{ port: string; path: string }>;
      podMetricsEndpoints?: Array<{ port: string; path: string }>;
    }>(m);
    const endpoint = (s.endpoints ?? s.podMetricsEndpoints)![0]!;
    expect(endpoint).toMatchObject({
      port: chart === 'control-plane' ? 'http' : 'health',
      path: '/metrics',
    });
    expect(deploymentTemplate(objects).metadata?.labels).toMatchObject(s.selector.matchLabels);
    if (chart === 'control-plane')
      expect(one(objects, 'Service').metadata.labels).toMatchObject(s.selector.matchLabels);
    expect(ofKind(objects, 'PrometheusRule')).toHaveLength(1);
  });

  it('rejects values the schema does not know', () => {
    const res = templateChart(chart, { set: { 'no.suchValue': 'x' } });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toMatch(/additional properties/);
  });
});

describe('control-plane chart', () => {
  it('sets exactly the env vars control-plane/src/config.ts reads', () => {
    const known = new Set([...CONTROL_PLANE_ENV_VARS, ...TRACING_ENV_VARS]);
    const seen = new Set<string>();
    for (const { opts } of cases('control-plane')) {
      const objects = render('control-plane', opts);
      const names = containerEnvNames(objects, mainContainer(objects));
      expect(names.filter((n) => !known.has(n))).toEqual([]); // nothing the app ignores
      expect(names.length).toBe(new Set(names).size); // nothing set twice
      names.forEach((n) => seen.add(n));
    }
    expect(CONTROL_PLANE_ENV_VARS.filter((n) => !seen.has(n))).toEqual([]); // everything settable
  });

  it('serves on port 5000 named http with /livez and /readyz probes', () => {
    const objects = render('control-plane', {});
    const c = mainContainer(objects);
    expect(c.ports).toEqual([expect.objectContaining({ name: 'http', containerPort: 5000 })]);
    expect(envValue(objects, c, 'PORT')).toBe('5000');
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/livez', port: 'http' });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.startupProbe?.httpGet).toEqual({ path: '/livez', port: 'http' });
    const svc = spec<{ ports: Array<{ targetPort: string }> }>(one(objects, 'Service'));
    expect(svc.ports.map((p) => p.targetPort)).toEqual(['http']);
  });

  it('reads every secret from the Secret, never from a plain value', () => {
    const objects = render('control-plane', { valuesFiles: exampleValues('control-plane') });
    const c = mainContainer(objects);
    for (const name of [
      'DATABASE_URL',
      'ADDON_PASSWORD',
      'SSO_SALT',
      'OAUTH_CLIENT_SECRET',
      'ENCRYPTION_KEY',
      'SESSION_SECRET',
    ]) {
      const entry = c.env?.find((e) => e.name === name);
      expect({ name, ref: entry?.valueFrom?.secretKeyRef }).toEqual({
        name,
        ref: { name: 'control-plane-env', key: name },
      });
    }
    expect(ofKind(objects, 'Secret')).toEqual([]); // existingSecret: the chart creates none
    const cm = one(objects, 'ConfigMap').data as Record<string, string>;
    expect(Object.keys(cm).filter((k) => /PASSWORD|SECRET|SALT|KEY|DATABASE_URL/.test(k))).toEqual(
      [],
    );
  });

  it('runs 3 replicas by default and leaves the count to the HPA when autoscaling', () => {
    const defaults = render('control-plane', {});
    expect(spec<{ replicas: number }>(one(defaults, 'Deployment')).replicas).toBe(3);
    expect(ofKind(defaults, 'HorizontalPodAutoscaler')).toEqual([]);
    const central = render('control-plane', { valuesFiles: exampleValues('control-plane') });
    expect(spec<{ replicas?: number }>(one(central, 'Deployment')).replicas).toBeUndefined();
    expect(
      spec<{ minReplicas: number }>(one(central, 'HorizontalPodAutoscaler')).minReplicas,
    ).toBeGreaterThanOrEqual(3);
    expect(ofKind(central, 'Ingress')).toHaveLength(1);
  });

  it('migrates in a pre-install/pre-upgrade hook Job when enabled', () => {
    expect(ofKind(render('control-plane', {}), 'Job')).toEqual([]);
    const job = one(
      render('control-plane', { valuesFiles: exampleValues('control-plane') }),
      'Job',
    );
    expect(job.metadata.annotations?.['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    const c = spec<{ template: { spec: { containers: Container[] } } }>(job).template.spec
      .containers[0]!;
    expect(c.command).toEqual(['node', 'dist/control-plane/src/migrate-main.js']);
    expect(c.env?.map((e) => e.name).filter((n) => !CONTROL_PLANE_ENV_VARS.includes(n))).toEqual(
      [],
    );
    expect(c.env?.find((e) => e.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef?.key).toBe(
      'DATABASE_URL',
    );
  });

  it('refuses a migrations hook that would run before its chart-created Secret exists', () => {
    const res = templateChart('control-plane', {
      set: { 'migrations.job.enabled': 'true', 'secret.create': 'true' },
    });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain('migrations.job.enabled needs secret.existingSecret');
  });
});

/** Env vars the agent reads that the chart deliberately never sets, and why. */
const AGENT_ENV_NOT_IN_CLUSTER: Readonly<Record<string, string>> = {
  KUBECONFIG: 'in a cluster the agent uses its ServiceAccount (in-cluster config)',
};

/**
 * Grants the chart makes although KUBE_CALLS does not list them (yet), each with its reason.
 * The Role may hold nothing else.
 */
const ROLE_BEYOND_KUBE_CALLS: Readonly<Record<string, string>> = {};

function permissions(rules: RoleRule[]): Set<string> {
  const out = new Set<string>();
  for (const r of rules) {
    for (const g of r.apiGroups)
      for (const res of r.resources) for (const v of r.verbs) out.add(`${g}/${res}:${v}`);
  }
  return out;
}

describe('region-agent chart', () => {
  it('sets exactly the env vars region-agent/src/config.ts reads', () => {
    const known = new Set([...AGENT_ENV_VARS, ...TRACING_ENV_VARS]);
    const seen = new Set<string>();
    for (const { opts } of cases('region-agent')) {
      const objects = render('region-agent', opts);
      const names = containerEnvNames(objects, mainContainer(objects));
      expect(names.filter((n) => !known.has(n))).toEqual([]);
      expect(names.length).toBe(new Set(names).size);
      names.forEach((n) => seen.add(n));
    }
    const unset = AGENT_ENV_VARS.filter((n) => !seen.has(n) && !(n in AGENT_ENV_NOT_IN_CLUSTER));
    expect(unset).toEqual([]);
    // The exclusions must stay real: nothing excluded that the chart sets after all.
    expect(Object.keys(AGENT_ENV_NOT_IN_CLUSTER).filter((n) => seen.has(n))).toEqual([]);
  });

  it('runs one replica with strategy Recreate by default, probes on the health port', () => {
    const objects = render('region-agent', {});
    const dep = spec<{ replicas: number; strategy: { type: string } }>(one(objects, 'Deployment'));
    expect(dep.replicas).toBe(1);
    expect(dep.strategy).toEqual({ type: 'Recreate' });
    expect(deploymentTemplate(objects).spec.affinity).toBeUndefined();
    const c = mainContainer(objects);
    expect(c.ports).toEqual([expect.objectContaining({ name: 'health', containerPort: 8080 })]);
    expect(envValue(objects, c, 'HEALTH_PORT')).toBe('8080');
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/livez', port: 'health' });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'health' });
  });

  it.each(exampleValues('region-agent'))(
    'runs two kubernetes agents that roll one at a time on different nodes (%s)',
    (file) => {
      const objects = render('region-agent', { valuesFiles: [file] });
      const dep = spec<{ replicas: number; strategy: unknown }>(one(objects, 'Deployment'));
      expect(dep.replicas).toBe(2);
      expect(dep.strategy).toEqual({
        type: 'RollingUpdate',
        rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
      });
      const pod = deploymentTemplate(objects);
      type Term = { topologyKey: string; labelSelector: { matchLabels: Record<string, string> } };
      const terms = (
        pod.spec.affinity as {
          podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: Array<{ podAffinityTerm: Term }> };
        }
      ).podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution.map((t) => t.podAffinityTerm);
      expect(terms.map((t) => t.topologyKey)).toEqual([
        'kubernetes.io/hostname',
        'topology.kubernetes.io/zone',
      ]);
      for (const t of terms) expect(pod.metadata?.labels).toMatchObject(t.labelSelector.matchLabels);
      const pdb = spec<{ maxUnavailable: number }>(one(objects, 'PodDisruptionBudget'));
      expect(pdb.maxUnavailable).toBe(1);
      // Each pod names itself in heartbeats: no fixed AGENT_ID shared by both.
      expect(containerEnvNames(objects, mainContainer(objects))).toContain('AGENT_ID');
      expect(envValue(objects, mainContainer(objects), 'AGENT_ID')).toBeUndefined();
    },
  );

  it('keeps an explicit affinity as given with several replicas', () => {
    const objects = render('region-agent', {
      set: {
        replicas: '3',
        'persistence.enabled': 'false',
        'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key':
          'pool',
        'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator':
          'Exists',
      },
    });
    expect(spec<{ replicas: number }>(one(objects, 'Deployment')).replicas).toBe(3);
    expect(Object.keys(deploymentTemplate(objects).spec.affinity as object)).toEqual([
      'nodeAffinity',
    ]);
  });

  it.each([
    [{ replicas: '2', 'persistence.enabled': 'false', 'agent.driver': 'local' }, '/agent/driver'],
    [{ replicas: '2' }, '/persistence/enabled'],
    [{ replicas: '0' }, '/replicas'],
  ])('refuses %j (schema: %s)', (set, where) => {
    const res = templateChart('region-agent', { set });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain(where);
  });

  it.each(exampleValues('region-agent'))('serves the region its example names (%s)', (file) => {
    const region = /region-agent\.([a-z0-9-]+)\.values\.yaml$/.exec(file)![1]!;
    const objects = render('region-agent', { valuesFiles: [file] });
    const c = mainContainer(objects);
    expect(envValue(objects, c, 'AGENT_REGION')).toBe(region);
    expect(envValue(objects, c, 'AGENT_DRIVER')).toBe('kubernetes');
    expect(envValue(objects, c, 'AGENT_HOSTNAME')).toMatch(new RegExp(`^${region}\\.`));
    expect(envValue(objects, c, 'NATS_CREDS_FILE')).toMatch(/^\/etc\/nats\/creds\//);
  });

  it.each([false, true])(
    'grants exactly the kubernetes driver calls (cert-manager %s)',
    (certManager) => {
      const set: Record<string, string> = {
        'certManager.enabled': String(certManager),
        ...(certManager ? { 'certManager.issuer.name': 'letsencrypt' } : {}),
      };
      const objects = render('region-agent', { set });
      const role = one(objects, 'Role');
      expect(role.metadata.namespace).toBe('addon-instances');
      const granted = permissions((role as unknown as { rules: RoleRule[] }).rules);
      const needed = new Set<string>();
      for (const call of KUBE_CALLS) {
        if (call.certManagerOnly && !certManager) continue;
        for (const v of call.verbs) needed.add(`${call.group}/${call.resource}:${v}`);
      }
      expect(needed.size).toBeGreaterThan(0);
      expect([...needed].filter((p) => !granted.has(p))).toEqual([]); // covers every call
      const beyond = [...granted].filter(
        (p) => !needed.has(p) && !(p.split(':')[0]! in ROLE_BEYOND_KUBE_CALLS),
      );
      expect(beyond).toEqual([]); // and nothing more
      if (!certManager)
        expect([...granted].filter((p) => p.startsWith('cert-manager.io/'))).toEqual([]);
      expect([...granted].some((p) => p.includes('*'))).toBe(false);
      expect(envValue(objects, mainContainer(objects), 'TLS_ISSUER')).toBe(
        certManager ? 'cert-manager' : 'private-ca',
      );
    },
  );

  it('binds the Role to the agent ServiceAccount and mounts its token', () => {
    const objects = render('region-agent', {});
    const binding = one(objects, 'RoleBinding') as unknown as {
      metadata: { namespace: string };
      roleRef: { kind: string; name: string };
      subjects: Array<{ kind: string; name: string; namespace: string }>;
    };
    const sa = one(objects, 'ServiceAccount');
    expect(binding.metadata.namespace).toBe('addon-instances');
    expect(binding.roleRef).toMatchObject({
      kind: 'Role',
      name: one(objects, 'Role').metadata.name,
    });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'addons' },
    ]);
    const pod = deploymentTemplate(objects).spec;
    expect(pod.serviceAccountName).toBe(sa.metadata.name);
    expect(pod.automountServiceAccountToken).toBe(true);
  });

  it('keeps the region CA in a Secret of the instance namespace, which the Role can read and create', () => {
    const defaults = render('region-agent', {});
    const c0 = mainContainer(defaults);
    expect(envValue(defaults, c0, 'TLS_CA_SECRET')).toBe('region-agent-ca-us-east');
    const rules = one(defaults, 'Role') as unknown as {
      metadata: { namespace: string };
      rules: RoleRule[];
    };
    expect(rules.metadata.namespace).toBe(envValue(defaults, c0, 'KUBE_NAMESPACE'));
    expect([...permissions(rules.rules)]).toEqual(
      expect.arrayContaining(['/secrets:get', '/secrets:create']),
    );
    for (const file of exampleValues('region-agent')) {
      const objects = render('region-agent', { valuesFiles: [file] });
      expect({ file, secret: envValue(objects, mainContainer(objects), 'TLS_CA_SECRET') }).toEqual({
        file,
        secret: 'region-agent-ca',
      });
    }
    // cert-manager mode: no CA Secret, the issuer instead.
    const cm = render('region-agent', {
      set: {
        'certManager.enabled': 'true',
        'certManager.issuer.name': 'letsencrypt',
        'certManager.issuer.kind': 'Issuer',
      },
    });
    const c = mainContainer(cm);
    expect(containerEnvNames(cm, c)).not.toContain('TLS_CA_SECRET');
    expect([
      envValue(cm, c, 'CERT_MANAGER_ISSUER'),
      envValue(cm, c, 'CERT_MANAGER_ISSUER_KIND'),
    ]).toEqual(['letsencrypt', 'Issuer']);
  });

  it('refuses cert-manager without an issuer', () => {
    const res = templateChart('region-agent', { set: { 'certManager.enabled': 'true' } });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain('certManager.issuer.name');
  });

  it('refuses NATS user/password and a creds file at once', () => {
    const res = templateChart('region-agent', {
      set: { 'nats.credsSecret.name': 'creds', 'secret.existingSecret': 'nats-user' },
    });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain('not both');
  });
});
