import { natsConnectionOptions, NatsUrlSchema, parseNatsServers } from './nats.js';

describe('parseNatsServers', () => {
  it('splits a cluster list into servers, trimming blanks', () => {
    expect(parseNatsServers('nats://a:4222, nats://b:4222 ,,nats://c:4222')).toEqual([
      'nats://a:4222',
      'nats://b:4222',
      'nats://c:4222',
    ]);
    expect(parseNatsServers('nats://only:4222')).toEqual(['nats://only:4222']);
  });

  it('is what the connection options carry, one entry per server', () => {
    const options = natsConnectionOptions({ url: 'nats://a:1,nats://b:2', name: 'x' });
    expect(options.servers).toEqual(['nats://a:1', 'nats://b:2']);
    expect(options.noAsyncTraces).toBe(true);
  });

  it('NatsUrlSchema accepts lists and refuses what is not a server list', () => {
    expect(NatsUrlSchema.safeParse('nats://a:4222,tls://b:4222,c:4222').success).toBe(true);
    expect(NatsUrlSchema.safeParse(' , ').success).toBe(false);
    expect(NatsUrlSchema.safeParse('nats://a:4222;nats://b:4222').success).toBe(false);
    expect(NatsUrlSchema.safeParse('nats://a:4222 nats://b:4222').success).toBe(false);
  });
});
