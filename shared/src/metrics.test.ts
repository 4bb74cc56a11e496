import { cached, createRegistry, scrapeAllowed, scrapeGauge } from './metrics.js';

describe('cached', () => {
  it('loads once per ttl and shares a load in flight', async () => {
    let now = 0;
    let loads = 0;
    const read = cached(
      async () => ++loads,
      5000,
      () => now,
    );
    expect(await Promise.all([read(), read()])).toEqual([1, 1]);
    now = 4999;
    expect(await read()).toBe(1);
    now = 5000;
    expect(await read()).toBe(2);
  });

  it('does not keep a failed load', async () => {
    let fail = true;
    const read = cached(async () => {
      if (fail) throw new Error('down');
      return 'up';
    }, 60_000);
    await expect(read()).rejects.toThrow('down');
    fail = false;
    expect(await read()).toBe('up');
  });
});

describe('scrapeAllowed', () => {
  it('lets every scrape through without a token', () => {
    expect(scrapeAllowed(undefined, undefined)).toBe(true);
  });

  it('wants exactly the bearer token when one is set', () => {
    const token = 'a-metrics-token-0123';
    expect(scrapeAllowed(`Bearer ${token}`, token)).toBe(true);
    expect(scrapeAllowed(undefined, token)).toBe(false);
    expect(scrapeAllowed(`Bearer ${token}x`, token)).toBe(false);
    expect(scrapeAllowed(`Basic ${Buffer.from(`x:${token}`).toString('base64')}`, token)).toBe(
      false,
    );
  });
});

describe('scrapeGauge', () => {
  it('answers the series read at scrape time and drops the ones no longer read', async () => {
    const registry = createRegistry();
    let rows = [
      { labels: { region: 'a' }, value: 1 },
      { labels: { region: 'b' }, value: 0 },
    ];
    scrapeGauge(registry, 'test_up', 'up', ['region'], async () => rows);
    expect(await registry.getSingleMetricAsString('test_up')).toContain('test_up{region="b"} 0');
    rows = [{ labels: { region: 'a' }, value: 1 }];
    expect(await registry.getSingleMetricAsString('test_up')).not.toContain('region="b"');
    expect(await registry.metrics()).toContain('process_cpu_user_seconds_total');
  });
});
