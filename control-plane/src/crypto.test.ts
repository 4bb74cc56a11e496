import { randomBytes } from 'node:crypto';
import { createSealer } from './crypto.js';

const ring = { keyId: 'k1', key: randomBytes(32), old: [] };

describe('sealer', () => {
  it('opens what it sealed, and gives every seal an IV of its own across pool refills', () => {
    const sealer = createSealer(ring);
    const ivs = new Set<string>();
    for (let i = 0; i < 1_000; i++) {
      const sealed = sealer.seal(`secret ${i}`);
      expect(sealer.open(sealed)).toBe(`secret ${i}`);
      const iv = sealed.split('.')[2]!;
      expect(Buffer.from(iv, 'base64url')).toHaveLength(12);
      ivs.add(iv);
    }
    expect(ivs.size).toBe(1_000);
  });

  it('refuses a sealed value that was tampered with', () => {
    const sealer = createSealer(ring);
    const [v, id, iv, tag, ct] = sealer.seal('hello').split('.');
    const flipped = Buffer.from(ct!, 'base64url');
    flipped[0]! ^= 1;
    expect(() => sealer.open([v, id, iv, tag, flipped.toString('base64url')].join('.'))).toThrow();
  });

  it('opens values sealed under an older key it still holds', () => {
    const old = createSealer(ring).seal('from before');
    const rotated = createSealer({ keyId: 'k2', key: randomBytes(32), old: [ring] });
    expect(rotated.open(old)).toBe('from before');
  });
});
