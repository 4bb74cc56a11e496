/** The local instance's leaf: issued from the regional CA into the instance directory. */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import type { Progress } from '../../driver.js';
import type { TlsIssuer } from '../../tls/private-ca.js';
import { isDueForRenewal } from '../../tls/renewal.js';
import { writePrivate, writeState, type InstancePaths, type InstanceState } from './state.js';

/**
 * A leaf is (re-)issued when missing, close to expiry, signed by an older CA, or not the pair
 * the state records: its three files are written at once, so an agent killed among them may
 * leave a new key beside the old certificate, which the server could not serve.
 */
async function needsCertificate(
  paths: InstancePaths,
  state: InstanceState,
  issuer: TlsIssuer,
): Promise<boolean> {
  const files = [paths.cert, paths.key, paths.ca];
  if (!files.every((f) => existsSync(f)) || !state.certificate) return true;
  if (isDueForRenewal(state.certificate.notAfter, Date.now())) return true;
  const [certPem, keyPem, ca] = await Promise.all(files.map((f) => readFile(f, 'utf8')));
  if (ca !== (await issuer.caPem())) return true;
  return !matchingPair(certPem!, keyPem!, state.certificate.fingerprint);
}

function matchingPair(certPem: string, keyPem: string, fingerprint: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    return cert.fingerprint256 === fingerprint && cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false; // unreadable: issued again
  }
}

/**
 * Issues the leaf when due. Returns the CAs a running server may still present when a new
 * leaf was written (so a reload can trust both), undefined when nothing changed.
 */
export async function ensureCertificate(
  paths: InstancePaths,
  state: InstanceState,
  tls: { issuer: TlsIssuer; hostname: string },
  progress: Progress,
): Promise<string[] | undefined> {
  if (!(await needsCertificate(paths, state, tls.issuer))) return undefined;
  const previousCa = existsSync(paths.ca) ? await readFile(paths.ca, 'utf8') : undefined;
  await progress('issuing certificate');
  const names = [...new Set([tls.hostname, 'localhost', '127.0.0.1'])];
  const issued = await tls.issuer.issue(state.uuid, names);
  // At once: each file is a few thread-pool round trips (0.3-0.6 ms each on the bench machine).
  await Promise.all([
    writePrivate(paths.key, issued.keyPem),
    writeFile(paths.cert, issued.certPem),
    writeFile(paths.ca, issued.caPem),
  ]);
  state.certificate = { notAfter: issued.notAfter, fingerprint: issued.fingerprint };
  await writeState(paths, state);
  return previousCa ? [issued.caPem, previousCa] : [issued.caPem];
}
