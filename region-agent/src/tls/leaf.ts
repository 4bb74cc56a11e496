/**
 * One instance's leaf certificate, built as DER and signed with node:crypto: a fresh P-256 key,
 * serverAuth only, the instance's names as SANs, key identifiers that chain it to the CA.
 * Everything native (key generation, ECDSA signature, SHA) takes well under a millisecond;
 * building it through @peculiar/x509's ASN.1 schema took 5–40 ms of the agent's thread per
 * leaf, and that was most of a provision. Key generation with its encoding and the signature run
 * on libuv's thread pool, off the agent's thread (they were ~9% of its CPU at 200 provisions/s).
 */
import { createHash, generateKeyPair, randomBytes, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import {
  bitString,
  generalName,
  octetString,
  oid,
  sequence,
  tlv,
  time,
  unsignedInteger,
  TAG,
} from './der.js';

/** What a leaf needs from its CA, parsed once per CA. */
export interface SigningCa {
  /** The CA certificate's subject, as DER: the leaf's issuer, byte for byte. */
  subjectDer: Buffer;
  /** The CA's key identifier (its SubjectKeyIdentifier): the leaf's AuthorityKeyIdentifier. */
  keyId: Buffer;
  key: KeyObject;
}

export interface Leaf {
  certPem: string;
  keyPem: string;
  notAfter: string;
  fingerprint: string;
}

const ECDSA_WITH_SHA256 = sequence(oid('1.2.840.10045.4.3.2'));
const CRITICAL = tlv(TAG.boolean, Buffer.from([0xff]));

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [CRITICAL] : []), octetString(value));
}

/** The constant ones: CA:FALSE, digitalSignature, serverAuth. */
const FIXED_EXTENSIONS = [
  extension('2.5.29.19', true, sequence()),
  extension('2.5.29.15', true, tlv(TAG.bitString, Buffer.from([0x07, 0x80]))),
  extension('2.5.29.37', false, sequence(oid('1.3.6.1.5.5.7.3.1'))),
];

/** A positive 128-bit serial; the top bits set so it is never shortened or read as negative. */
function serialNumber(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes;
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(spkiDer: Buffer): Buffer {
  // A P-256 SPKI is SEQ { SEQ { ecPublicKey, prime256v1 }, BIT STRING { 0, 65-byte point } }.
  const point = spkiDer.subarray(spkiDer.length - 65);
  return createHash('sha1').update(point).digest();
}

function commonName(cn: string): Buffer {
  return sequence(tlv(TAG.set, sequence(oid('2.5.4.3'), tlv(TAG.utf8String, Buffer.from(cn)))));
}

const pem = (label: string, der: Buffer): string =>
  `-----BEGIN ${label}-----\n${der
    .toString('base64')
    .replace(/.{64}/g, '$&\n')
    .replace(/\n?$/, '\n')}-----END ${label}-----\n`;

/** The fingerprint the way X509Certificate.fingerprint256 spells it. */
const fingerprint = (der: Buffer): string =>
  (createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g) ?? []).join(':');

const newKeyPair = promisify(generateKeyPair);
const signed = promisify(sign);

export async function issueLeaf(
  ca: SigningCa,
  cn: string,
  hostnames: string[],
  validity: { notBefore: Date; notAfter: Date },
): Promise<Leaf> {
  const { publicKey: spki, privateKey: keyPem } = await newKeyPair('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  // Certificates carry whole seconds: report the time the certificate says.
  const notAfter = new Date(Math.floor(validity.notAfter.getTime() / 1000) * 1000);
  const extensions = [
    ...FIXED_EXTENSIONS,
    extension('2.5.29.17', false, sequence(...hostnames.map(generalName))),
    extension('2.5.29.35', false, sequence(tlv(0x80, ca.keyId))),
    extension('2.5.29.14', false, octetString(keyIdentifier(spki))),
  ];
  const tbs = sequence(
    tlv(0xa0, unsignedInteger(Buffer.from([2]))), // v3
    unsignedInteger(serialNumber()),
    ECDSA_WITH_SHA256,
    ca.subjectDer,
    sequence(time(validity.notBefore), time(notAfter)),
    commonName(cn),
    spki,
    tlv(0xa3, sequence(...extensions)),
  );
  const signature = await signed('sha256', tbs, { key: ca.key, dsaEncoding: 'der' });
  const der = sequence(tbs, ECDSA_WITH_SHA256, bitString(signature));
  return {
    certPem: pem('CERTIFICATE', der),
    keyPem,
    notAfter: notAfter.toISOString(),
    fingerprint: fingerprint(der),
  };
}
