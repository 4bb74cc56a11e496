/**
 * A regional private CA (ECDSA P-256) kept as files under the data dir, issuing one leaf per
 * instance. Keys come from node:crypto; X.509 signing uses the openssl CLI in a temp dir
 * because Node has no certificate builder.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  caPem: string;
  notAfter: string;
  fingerprint: string;
}

export interface TlsIssuer {
  /** PEM of the CA clients must trust (`<PREFIX>_TLS_CA`). */
  caPem(): Promise<string>;
  issue(commonName: string, hostnames: string[]): Promise<IssuedCertificate>;
}

export interface PrivateCaOptions {
  dir: string;
  region: string;
  leafDays?: number;
  caDays?: number;
  openssl?: string;
}

function newKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function caConfig(region: string): string {
  return [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    'x509_extensions = v3_ca',
    '[dn]',
    `CN = region-agent ${region} CA`,
    '[v3_ca]',
    'basicConstraints = critical, CA:TRUE, pathlen:0',
    'keyUsage = critical, keyCertSign, cRLSign',
    'subjectKeyIdentifier = hash',
    '',
  ].join('\n');
}

function leafExtensions(hostnames: string[]): string {
  const sans = hostnames.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(', ');
  return [
    '[v3_leaf]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = serverAuth',
    `subjectAltName = ${sans}`,
    'authorityKeyIdentifier = keyid',
    '',
  ].join('\n');
}

function describe(certPem: string): { notAfter: string; fingerprint: string } {
  const cert = new X509Certificate(certPem);
  return { notAfter: new Date(cert.validTo).toISOString(), fingerprint: cert.fingerprint256 };
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'region-agent-tls-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function createPrivateCa(options: PrivateCaOptions): TlsIssuer {
  const openssl = options.openssl ?? 'openssl';
  const caKeyPath = join(options.dir, 'ca.key');
  const caCertPath = join(options.dir, 'ca.pem');
  let ready: Promise<void> | undefined;

  async function createCa(): Promise<void> {
    if (existsSync(caKeyPath) && existsSync(caCertPath)) return;
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    await withTempDir(async (tmp) => {
      const key = join(tmp, 'ca.key');
      const cert = join(tmp, 'ca.pem');
      const conf = join(tmp, 'ca.cnf');
      await writeFile(key, newKeyPem(), { mode: 0o600 });
      await writeFile(conf, caConfig(options.region));
      const days = String(options.caDays ?? 3650);
      await run(openssl, ['req', '-x509', '-new', '-key', key, '-sha256', '-days', days, '-config', conf, '-out', cert]);
      // Key first, certificate last: the certificate's presence marks a complete CA.
      await writeFile(caKeyPath, await readFile(key), { mode: 0o600 });
      await writeFile(caCertPath, await readFile(cert));
    });
  }

  function ensureCa(): Promise<void> {
    ready ??= createCa().catch((err: unknown) => {
      ready = undefined;
      throw err;
    });
    return ready;
  }

  return {
    async caPem(): Promise<string> {
      await ensureCa();
      return readFile(caCertPath, 'utf8');
    },
    async issue(commonName: string, hostnames: string[]): Promise<IssuedCertificate> {
      await ensureCa();
      const caPem = await readFile(caCertPath, 'utf8');
      return withTempDir(async (tmp) => {
        const key = join(tmp, 'leaf.key');
        const csr = join(tmp, 'leaf.csr');
        const cert = join(tmp, 'leaf.pem');
        const ext = join(tmp, 'leaf.ext');
        const keyPem = newKeyPem();
        await writeFile(key, keyPem, { mode: 0o600 });
        await writeFile(ext, leafExtensions(hostnames));
        await run(openssl, ['req', '-new', '-key', key, '-subj', `/CN=${commonName}`, '-out', csr]);
        const serial = `0x${randomBytes(16).toString('hex')}`;
        const days = String(options.leafDays ?? 90);
        await run(openssl, [
          'x509', '-req', '-in', csr, '-CA', caCertPath, '-CAkey', caKeyPath, '-set_serial', serial,
          '-days', days, '-sha256', '-extfile', ext, '-extensions', 'v3_leaf', '-out', cert,
        ]);
        const certPem = await readFile(cert, 'utf8');
        return { certPem, keyPem, caPem, ...describe(certPem) };
      });
    },
  };
}
