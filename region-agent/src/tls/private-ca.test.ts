import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrivateCa } from './private-ca.js';

describe('createPrivateCa', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ra-ca-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('issues a P-256 leaf for the given names, signed by a persistent CA', async () => {
    const ca = createPrivateCa({ dir: join(dir, 'ca'), region: 'us-east' });
    const leaf = await ca.issue('instance-1', ['localhost', '127.0.0.1']);
    const cert = new X509Certificate(leaf.certPem);
    const caCert = new X509Certificate(leaf.caPem);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('example.com')).toBeUndefined();
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(caCert.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(Date.parse(leaf.notAfter)).toBeGreaterThan(Date.now() + 80 * 86_400_000);
    expect(leaf.fingerprint).toBe(cert.fingerprint256);

    // A second issuer on the same dir reuses the CA instead of minting a new one.
    const again = createPrivateCa({ dir: join(dir, 'ca'), region: 'us-east' });
    expect(await again.caPem()).toBe(leaf.caPem);
  });
});
