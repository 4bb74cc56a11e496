/**
 * A regional private CA (ECDSA P-256), issuing one leaf per instance. Where the CA lives is a
 * `CaStore`: files under the data dir (local driver) or a Kubernetes Secret (kubernetes
 * driver, `drivers/kubernetes/ca-secret.ts`); it is created on first use when absent, and
 * when two agents race to create it the store keeps the first. Keys come from WebCrypto and
 * certificates are built in-process with @peculiar/x509 (no openssl process per leaf: that
 * was most of a provision's cost).
 */
import { randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the Reflect polyfill first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

// @peculiar/x509 is typed against the DOM's Crypto; Node's webcrypto is that implementation.
x509.cryptoProvider.set(webcrypto as never);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

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
  const read = async (): Promise<CaMaterial> => ({
    certPem: await readFile(certPath, 'utf8'),
    keyPem: await readFile(keyPath, 'utf8'),
  });
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
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
}

async function importKeyPem(pem: string): Promise<CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']) as Promise<CryptoKey>;
}

/** A positive 128-bit serial (the high bit cleared so DER does not read it as negative). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

/** Backdated a little so a client whose clock is behind still accepts a fresh leaf. */
function validity(days: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - 5 * 60_000), notAfter: new Date(now + days * DAY_MS) };
}

function describe(certPem: string): { notAfter: string; fingerprint: string } {
  const cert = new X509Certificate(certPem);
  return { notAfter: new Date(cert.validTo).toISOString(), fingerprint: cert.fingerprint256 };
}

export function createPrivateCa(options: PrivateCaOptions): TlsIssuer {
  const store = options.store ?? fileCaStore(options.dir ?? '');
  if (!options.store && !options.dir) throw new Error('createPrivateCa needs a dir or a store');
  let creating: Promise<CaMaterial> | undefined;

  async function generateCa(): Promise<CaMaterial> {
    const keys = await newKeys();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serialNumber(),
      name: `CN=region-agent ${options.region} CA`,
      ...validity(options.caDays ?? 3650),
      keys,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return { keyPem: await keyPem(keys.privateKey), certPem: cert.toString('pem') + '\n' };
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
      const caCert = new x509.X509Certificate(ca.certPem);
      const keys = await newKeys();
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: serialNumber(),
        subject: `CN=${commonName}`,
        issuer: caCert.subject,
        ...validity(options.leafDays ?? 90),
        publicKey: keys.publicKey,
        signingKey: await importKeyPem(ca.keyPem),
        signingAlgorithm: ALG,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          new x509.SubjectAlternativeNameExtension(
            hostnames.map((h) => ({ type: isIP(h) ? 'ip' : 'dns', value: h }) as const),
          ),
          await x509.AuthorityKeyIdentifierExtension.create(caCert),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      const certPem = cert.toString('pem') + '\n';
      return {
        certPem,
        keyPem: await keyPem(keys.privateKey),
        caPem: ca.certPem,
        ...describe(certPem),
      };
    },
  };
}
