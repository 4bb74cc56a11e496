import type { InstanceStats } from '../../../shared/src/messages.js';
import { healthCard, type HealthSample } from './health-view.js';
import { plot, sparkline } from './sparkline.js';

const NOW = Date.parse('2027-03-01T19:08:00Z');
const MB = 1024 * 1024;
const stats = (usedMb: number, extra: Partial<InstanceStats> = {}): InstanceStats => ({
  usedMemoryBytes: usedMb * MB,
  maxMemoryBytes: 25 * MB,
  keys: 1234,
  clients: 3,
  opsPerSec: 42,
  uptimeS: 3725,
  ...extra,
});
const ago = (minutes: number): Date => new Date(NOW - minutes * 60_000);

describe('sparkline', () => {
  const o = { nowMs: NOW, spanMs: 86_400_000, label: 'x' };

  it('places the window from left (24 h ago) to right (now), higher values higher up', () => {
    const xy = plot(
      [
        { at: ago(24 * 60), value: 0 },
        { at: ago(12 * 60), value: 50 },
        { at: ago(0), value: 100 },
      ],
      o,
    );
    expect(xy).toEqual([
      [0, 58],
      [150, 30],
      [300, 2],
    ]);
  });

  it('drops points outside the window and keeps the highest of one pixel column', () => {
    const xy = plot(
      [
        { at: ago(25 * 60), value: 100 },
        { at: ago(1), value: 10 },
        { at: ago(0), value: 20 },
      ],
      o,
    );
    expect(xy).toEqual([[300, 2]]);
  });

  it('scales to the limit, drawn dashed, and renders a title and no script', () => {
    const svg = sparkline(
      [
        { at: ago(60), value: 5 },
        { at: ago(0), value: 10 },
      ],
      {
        ...o,
        limit: 20,
        label: 'Memory <used>',
      },
    );
    expect(svg).toMatch(/^<svg [^>]*viewBox="0 0 300 60"/);
    expect(svg).toContain('<title>Memory &#60;used&#62;</title>');
    expect(svg).toContain('class="limit" x1="0" x2="300" y1="2" y2="2"');
    expect(svg).toMatch(/<polyline [^>]*points="288,44 300,30"/);
    expect(svg).not.toMatch(/<script|href=/);
  });
});

describe('How it is doing', () => {
  it('says plainly that nothing was measured yet', () => {
    const html = healthCard([], NOW);
    expect(html).toContain(
      'No measurements yet: the first arrives within a few minutes of provisioning.',
    );
    expect(html).not.toContain('<svg');
  });

  it('shows the latest numbers in human units, the last check and a 24 h chart', () => {
    const samples: HealthSample[] = [
      { at: ago(120), ready: true, stats: stats(1) },
      { at: ago(60), ready: true, stats: stats(2.5) },
    ];
    const html = healthCard(samples, NOW);
    expect(html).toContain('2.5 MB of 25 MB (10%)');
    expect(html).toContain('<meter min="0" max="26214400" value="2621440"');
    expect(html).toContain('>1,234<');
    expect(html).toContain('>42<');
    expect(html).toContain('1 hour, 2 minutes');
    expect(html).toContain(
      '1 Mar 2027, 18:08 UTC</time> <span class="muted">(1 hour ago)</span>: answered over TLS',
    );
    expect(html).toContain('<svg class="spark"');
  });

  it('an instance that stopped answering keeps its last numbers and says so', () => {
    const html = healthCard(
      [
        { at: ago(10), ready: true, stats: stats(3) },
        { at: ago(5), ready: false, stats: null },
      ],
      NOW,
    );
    expect(html).toContain('3 MB of 25 MB');
    expect(html).toContain('(5 minutes ago)</span>: did not answer');
  });

  it('a server without a limit shows memory alone', () => {
    const html = healthCard(
      [{ at: ago(1), ready: true, stats: stats(1, { maxMemoryBytes: 0 }) }],
      NOW,
    );
    expect(html).toContain('1 MB (no limit)');
    expect(html).not.toContain('<meter');
  });
});
