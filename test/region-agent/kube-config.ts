/** A KubeConfig pointing the real @kubernetes/client-node at a fake kube-apiserver. */
import { KubeConfig } from '@kubernetes/client-node';

export function kubeConfig(server: string, namespace: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server, skipTLSVerify: true }],
    users: [{ name: 'agent', token: 'test-token' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'agent', namespace }],
    currentContext: 'fake',
  });
  return kc;
}
