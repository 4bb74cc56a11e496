import { parseInfo, statsFromInfo } from './stats.js';

const INFO = [
  '# Server',
  'redis_version:7.0.15',
  'uptime_in_seconds:3725',
  '',
  '# Clients',
  'connected_clients:3',
  '',
  '# Memory',
  'used_memory:1048576',
  'used_memory_human:1.00M',
  'maxmemory:33554432',
  '',
  '# Stats',
  'instantaneous_ops_per_sec:42',
  '',
  '# Keyspace',
  'db0:keys=12,expires=1,avg_ttl=0',
  'db3:keys=5,expires=0,avg_ttl=0',
  '',
].join('\r\n');

it('reads INFO fields, skipping section headers, values with colons kept whole', () => {
  const f = parseInfo('# Server\r\nexecutable:/usr/bin/redis-server\r\nrun_id:abc:def\r\n');
  expect(f.get('run_id')).toBe('abc:def');
  expect(f.has('# Server')).toBe(false);
  expect(f.size).toBe(2);
});

it('turns INFO into the dashboard numbers, keys summed over databases', () => {
  expect(statsFromInfo(INFO)).toEqual({
    usedMemoryBytes: 1048576,
    maxMemoryBytes: 33554432,
    keys: 17,
    clients: 3,
    opsPerSec: 42,
    uptimeS: 3725,
  });
});

it('an empty keyspace is 0 keys; a missing or garbled field is 0, never NaN', () => {
  const stats = statsFromInfo('# Memory\r\nused_memory:lots\r\n# Keyspace\r\n');
  expect(stats).toEqual({
    usedMemoryBytes: 0,
    maxMemoryBytes: 0,
    keys: 0,
    clients: 0,
    opsPerSec: 0,
    uptimeS: 0,
  });
});
