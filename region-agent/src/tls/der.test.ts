import { generalName, oid, time, unsignedInteger } from './der.js';

const hex = (b: Buffer): string => b.toString('hex');

describe('DER encodings', () => {
  it('encodes OIDs with multi-byte arcs', () => {
    expect(hex(oid('1.2.840.10045.4.3.2'))).toBe('06082a8648ce3d040302');
    expect(hex(oid('2.5.29.17'))).toBe('0603551d11');
  });

  it('keeps integers minimal and positive', () => {
    expect(hex(unsignedInteger(Buffer.from([0, 0, 0x05])))).toBe('020105');
    expect(hex(unsignedInteger(Buffer.from([0x80])))).toBe('02020080');
    expect(hex(unsignedInteger(Buffer.from([0])))).toBe('020100');
  });

  it('uses UTCTime through 2049 and GeneralizedTime from 2050, in whole seconds', () => {
    expect(time(new Date('2049-12-31T23:59:59.999Z')).toString('latin1')).toBe(
      '\x17\x0d491231235959Z',
    );
    expect(time(new Date('2050-01-01T00:00:00Z')).toString('latin1')).toBe(
      '\x18\x0f20500101000000Z',
    );
  });

  it('writes DNS names and IPv4/IPv6 addresses as their GeneralName forms', () => {
    expect(hex(generalName('a.io'))).toBe('8204612e696f');
    expect(hex(generalName('10.0.0.7'))).toBe('87040a000007');
    expect(hex(generalName('::1'))).toBe(`8710${'00'.repeat(15)}01`);
    expect(hex(generalName('fd00:1::2'))).toBe(`8710fd000001${'00'.repeat(10)}0002`);
  });
});
