import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
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

  it('builds certificates openssl accepts as a server chain, with the expected extensions', async () => {
    const ca = createPrivateCa({ dir: join(dir, 'ca2'), region: 'eu-west' });
    const leaf = await ca.issue('6f1c2d7e-0000-4000-8000-000000000001', [
      'db-x.eu-west.example.com',
      '10.0.0.7',
    ]);
    writeFileSync(join(dir, 'ca.pem'), leaf.caPem);
    writeFileSync(join(dir, 'leaf.pem'), leaf.certPem);
    writeFileSync(join(dir, 'leaf.key'), leaf.keyPem);
    const verify = execFileSync(
      'openssl',
      [
        'verify',
        '-purpose',
        'sslserver',
        '-verify_hostname',
        'db-x.eu-west.example.com',
        '-CAfile',
        join(dir, 'ca.pem'),
        join(dir, 'leaf.pem'),
      ],
      { encoding: 'utf8' },
    );
    expect(verify.trim()).toMatch(/leaf\.pem: OK$/);
    const text = execFileSync(
      'openssl',
      ['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-text'],
      { encoding: 'utf8' },
    );
    expect(text).toMatch(/CA:FALSE/);
    expect(text).toMatch(/TLS Web Server Authentication/);
    expect(text).toMatch(/DNS:db-x\.eu-west\.example\.com, IP Address:10\.0\.0\.7/);
    expect(text).toMatch(/Authority Key Identifier/);
    // The key file is a PKCS#8 EC key that matches the certificate.
    const pub = (args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8' });
    expect(pub(['pkey', '-in', join(dir, 'leaf.key'), '-pubout'])).toBe(
      pub(['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-pubkey']),
    );
    const caText = execFileSync(
      'openssl',
      ['x509', '-in', join(dir, 'ca.pem'), '-noout', '-text'],
      { encoding: 'utf8' },
    );
    expect(caText).toMatch(/CA:TRUE, pathlen:0/);
    expect(caText).toMatch(/Certificate Sign, CRL Sign/);
  });

  it('chains the leaf to the CA by key identifier, each leaf with its own key and serial', async () => {
    const ca = createPrivateCa({ dir: join(dir, 'ca3'), region: 'us-east' });
    const [a, b] = [await ca.issue('a', ['::1']), await ca.issue('b', ['x.example.com'])];
    const leaf = new x509.X509Certificate(a.certPem);
    const caCert = new x509.X509Certificate(a.caPem);
    const caKeyId = caCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    expect(leaf.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(caKeyId);
    expect(leaf.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toBe(
      Buffer.from(await leaf.publicKey.getKeyIdentifier('SHA-1')).toString('hex'),
    );
    expect(leaf.issuer).toBe(caCert.subject);
    expect(leaf.subject).toBe('CN=a');
    expect(new X509Certificate(a.certPem).checkIP('::1')).toBe('::1');
    expect(a.keyPem).not.toBe(b.keyPem);
    expect(new X509Certificate(a.certPem).serialNumber).not.toBe(
      new X509Certificate(b.certPem).serialNumber,
    );
    expect(a.notAfter).toBe(new Date(new X509Certificate(a.certPem).validTo).toISOString());
  });

  it('reads the stored CA again after caReloadMs, so a replaced CA is used', async () => {
    let now = 0;
    const caDir = join(dir, 'ca4');
    const ca = createPrivateCa({
      dir: caDir,
      region: 'us-east',
      caReloadMs: 1_000,
      now: () => now,
    });
    const first = await ca.caPem();
    const other = createPrivateCa({ dir: join(dir, 'ca5'), region: 'us-east' });
    const replacement = await other.caPem();
    rmSync(caDir, { recursive: true });
    execFileSync('cp', ['-r', join(dir, 'ca5'), caDir]);
    expect(await ca.caPem()).toBe(first);
    now = 1_000;
    expect(await ca.caPem()).toBe(replacement);
    const leaf = await ca.issue('c', ['localhost']);
    expect(
      new X509Certificate(leaf.certPem).verify(new X509Certificate(replacement).publicKey),
    ).toBe(true);
  });
});
