/**
 * The few DER encodings a leaf certificate needs (X.690): definite lengths, minimal integers,
 * OIDs given as their encoded bytes. Only what `leaf.ts` builds; not a general ASN.1 library.
 */
import { isIP } from 'node:net';

export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  utf8String: 0x0c,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One tag-length-value. */
export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

export const sequence = (...items: Buffer[]): Buffer => tlv(TAG.sequence, ...items);

/** An OID from its dotted form. */
export function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const arc of rest) {
    const groups: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128))
      groups.unshift(0x80 | (v & 0x7f));
    bytes.push(...groups);
  }
  return tlv(TAG.oid, Buffer.from(bytes));
}

/** A non-negative integer from its big-endian bytes, minimally encoded. */
export function unsignedInteger(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  const pad = (trimmed[0] ?? 0) & 0x80 ? [Buffer.from([0])] : [];
  return tlv(TAG.integer, ...pad, trimmed);
}

/** A BIT STRING of whole bytes (no unused bits). */
export const bitString = (bytes: Buffer): Buffer => tlv(TAG.bitString, Buffer.from([0]), bytes);

export const octetString = (bytes: Buffer): Buffer => tlv(TAG.octetString, bytes);

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, always in seconds, Z. */
export function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  const year = d.getUTCFullYear();
  return year < 2050
    ? tlv(TAG.utcTime, Buffer.from(`${digits.slice(2)}Z`, 'ascii'))
    : tlv(TAG.generalizedTime, Buffer.from(`${digits}Z`, 'ascii'));
}

/** A GeneralName: dNSName [2] or iPAddress [7] (4 or 16 bytes). */
export function generalName(host: string): Buffer {
  const family = isIP(host);
  if (family === 0) return tlv(0x82, Buffer.from(host, 'ascii'));
  return tlv(0x87, family === 4 ? Buffer.from(host.split('.').map(Number)) : ipv6Bytes(host));
}

function ipv6Bytes(host: string): Buffer {
  if (host.includes('.')) throw new Error(`IPv6 address with an IPv4 tail not supported: ${host}`);
  const [head = '', tail = ''] = host.includes('::') ? host.split('::') : [host, ''];
  const groups = (s: string): string[] => (s ? s.split(':') : []);
  const left = groups(head);
  const right = groups(tail);
  const all = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(Number.parseInt(g, 16), i * 2));
  return out;
}
