/**
 * A regional private CA (ECDSA P-256), issuing one leaf per instance. Where the CA lives is a
 * `CaStore`: files under the data dir (local driver) or a Kubernetes Secret (kubernetes
 * driver, `drivers/kubernetes/ca-secret.ts`); it is created on first use when absent, and
 * when two agents race to create it the store keeps the first. Keys come from node:crypto;
 * X.509 signing uses the openssl CLI in a temp dir because Node has no certificate builder.
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

/** The CA's certificate and private key, PEM. */
export interface CaMaterial {
  certPem: string;
  keyPem: string;
}

export interface CaStore {
  /** Where the CA is kept, for logs and errors. */
  readonly location: string;
  load(): Promise<CaMaterial | undefined>;
  /** Stores a new CA unless one appeared meanwhile; returns the one that is stored. */
  create(ca: CaMaterial): Promise<CaMaterial>;
}

/** `<dir>/ca.key` and `<dir>/ca.pem`; the certificate's presence marks a complete CA. */
export function fileCaStore(dir: string): CaStore {
  const keyPath = join(dir, 'ca.key');
  const certPath = join(dir, 'ca.pem');
  const read = async (): Promise<CaMaterial> => ({ certPem: await readFile(certPath, 'utf8'), keyPem: await readFile(keyPath, 'utf8') });
  return {
    location: dir,
    async load() {
      return existsSync(keyPath) && existsSync(certPath) ? read() : undefined;
    },
    async create(ca) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      if (existsSync(certPath) && existsSync(keyPath)) return read();
      await writeFile(keyPath, ca.keyPem, { mode: 0o600 });
      await writeFile(certPath, ca.certPem);
      return ca;
    },
  };
}

export interface PrivateCaOptions {
  /** Files under this dir, unless `store` is given. */
  dir?: string;
  store?: CaStore;
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
  const store = options.store ?? fileCaStore(options.dir ?? '');
  if (!options.store && !options.dir) throw new Error('createPrivateCa needs a dir or a store');
  let creating: Promise<CaMaterial> | undefined;

  async function generateCa(): Promise<CaMaterial> {
    return withTempDir(async (tmp) => {
      const keyPem = newKeyPem();
      const key = join(tmp, 'ca.key');
      const cert = join(tmp, 'ca.pem');
      const conf = join(tmp, 'ca.cnf');
      await writeFile(key, keyPem, { mode: 0o600 });
      await writeFile(conf, caConfig(options.region));
      const days = String(options.caDays ?? 3650);
      await run(openssl, ['req', '-x509', '-new', '-key', key, '-sha256', '-days', days, '-config', conf, '-out', cert]);
      return { keyPem, certPem: await readFile(cert, 'utf8') };
    });
  }

  /** The stored CA (read each time, so a CA replaced by an operator is picked up). */
  async function currentCa(): Promise<CaMaterial> {
    const stored = await store.load();
    if (stored) return stored;
    creating ??= generateCa()
      .then((ca) => store.create(ca))
      .finally(() => {
        creating = undefined;
      });
    return creating;
  }

  return {
    async caPem(): Promise<string> {
      return (await currentCa()).certPem;
    },
    async issue(commonName: string, hostnames: string[]): Promise<IssuedCertificate> {
      const ca = await currentCa();
      return withTempDir(async (tmp) => {
        const caKey = join(tmp, 'ca.key');
        const caCert = join(tmp, 'ca.pem');
        const key = join(tmp, 'leaf.key');
        const csr = join(tmp, 'leaf.csr');
        const cert = join(tmp, 'leaf.pem');
        const ext = join(tmp, 'leaf.ext');
        const keyPem = newKeyPem();
        await writeFile(caKey, ca.keyPem, { mode: 0o600 });
        await writeFile(caCert, ca.certPem);
        await writeFile(key, keyPem, { mode: 0o600 });
        await writeFile(ext, leafExtensions(hostnames));
        await run(openssl, ['req', '-new', '-key', key, '-subj', `/CN=${commonName}`, '-out', csr]);
        const serial = `0x${randomBytes(16).toString('hex')}`;
        const days = String(options.leafDays ?? 90);
        await run(openssl, [
          'x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-set_serial', serial,
          '-days', days, '-sha256', '-extfile', ext, '-extensions', 'v3_leaf', '-out', cert,
        ]);
        const certPem = await readFile(cert, 'utf8');
        return { certPem, keyPem, caPem: ca.certPem, ...describe(certPem) };
      });
    },
  };
}
