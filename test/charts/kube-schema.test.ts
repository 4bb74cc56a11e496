/** The schema check itself must catch what it is there to catch. */
import type { K8sObject } from './helm.js';
import { schemaProblems, unknownFields } from './kube-schema.js';

const deployment = (container: Record<string, unknown>): K8sObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'x', labels: { a: 'b' } },
  spec: {
    selector: { matchLabels: { a: 'b' } },
    template: {
      metadata: { labels: { a: 'b' } },
      spec: { containers: [{ name: 'c', image: 'i', ...container }] },
    },
  },
});

describe('schemaProblems', () => {
  it('accepts a valid object', () => {
    expect(schemaProblems(deployment({ securityContext: { readOnlyRootFilesystem: true } }))).toBe(
      '',
    );
  });

  it('rejects a wrong type', () => {
    expect(schemaProblems(deployment({ ports: [{ containerPort: '80' }] }))).toMatch(
      /containerPort/,
    );
  });

  it('rejects a misspelt field deep in the pod template', () => {
    expect(
      schemaProblems(deployment({ securityContext: { readOnlyRootFileSystem: true } })),
    ).toContain('.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem');
  });

  it('rejects a kind it has no schema for', () => {
    const crd = { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'c' } };
    expect(schemaProblems(crd)).toMatch(/no schema/);
  });

  it('walks maps and arrays without flagging their keys', () => {
    expect(unknownFields({ labels: { anything: 'x' } }, 'V1ObjectMeta')).toEqual([]);
    expect(unknownFields({ finalizers: ['a'], bogus: 1 }, 'V1ObjectMeta')).toEqual(['.bogus']);
  });
});
