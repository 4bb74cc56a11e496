/**
 * A regional private CA (ECDSA P-256), issuing one leaf per instance. Where the CA lives is a
 * `CaStore`: files under the data dir (local driver) or a Kubernetes Secret (kubernetes
 * driver, `drivers/kubernetes/ca-secret.ts`); it is created on first use when absent, and
 * when two agents race to create it the store keeps the first. The CA is made with
 * @peculiar/x509 (once per region); leaves are built by `leaf.ts` with node:crypto (no openssl
 * process, no ASN.1 schema per leaf: those were most of a provision's cost).
 */
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the Reflect polyfill first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { issueLeaf, type SigningCa } from './leaf.js';

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
  /**
   * How long the stored CA is trusted before it is read again (default 10 s): a CA replaced
   * by an operator is used from then on, and leaves it did not sign are re-issued by upkeep.
   */
  caReloadMs?: number;
  now?: () => number;
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
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

async function generateCa(region: string, days: number): Promise<CaMaterial> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=region-agent ${region} CA`,
    ...validity(days),
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

/** What signing needs, parsed from the stored PEMs once per CA. */
async function signingCa(ca: CaMaterial): Promise<SigningCa> {
  const cert = new x509.X509Certificate(ca.certPem);
  return {
    subjectDer: Buffer.from(cert.subjectName.toArrayBuffer()),
    // The same identifier the CA's own SubjectKeyIdentifier carries (SHA-1 of its key).
    keyId: Buffer.from(await cert.publicKey.getKeyIdentifier('SHA-1')),
    key: createPrivateKey(ca.keyPem),
  };
}

interface LoadedCa {
  material: CaMaterial;
  signing: Promise<SigningCa>;
  loadedAt: number;
}

export function createPrivateCa(options: PrivateCaOptions): TlsIssuer {
  const store = options.store ?? fileCaStore(options.dir ?? '');
  if (!options.store && !options.dir) throw new Error('createPrivateCa needs a dir or a store');
  const now = options.now ?? Date.now;
  const reloadMs = options.caReloadMs ?? 10_000;
  let loaded: LoadedCa | undefined;
  let loading: Promise<LoadedCa> | undefined;

  async function load(): Promise<LoadedCa> {
    const material =
      (await store.load()) ??
      (await store.create(await generateCa(options.region, options.caDays ?? 3650)));
    // Parsed again only when the CA itself changed.
    const signing =
      loaded?.material.certPem === material.certPem && loaded.material.keyPem === material.keyPem
        ? loaded.signing
        : signingCa(material);
    loaded = { material, signing, loadedAt: now() };
    return loaded;
  }

  /** The stored CA, read again once `caReloadMs` passed; one read at a time. */
  function currentCa(): Promise<LoadedCa> {
    if (loaded && now() - loaded.loadedAt < reloadMs) return Promise.resolve(loaded);
    loading ??= load().finally(() => {
      loading = undefined;
    });
    return loading;
  }

  return {
    async caPem(): Promise<string> {
      return (await currentCa()).material.certPem;
    },
    async issue(commonName: string, hostnames: string[]): Promise<IssuedCertificate> {
      const ca = await currentCa();
      const leaf = await issueLeaf(
        await ca.signing,
        commonName,
        hostnames,
        validity(options.leafDays ?? 90),
      );
      return { ...leaf, caPem: ca.material.certPem };
    },
  };
}
