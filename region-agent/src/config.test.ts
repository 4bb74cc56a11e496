import { ConfigError } from '../../shared/src/config.js';
import { AGENT_ENV_VARS, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('applies defaults for the local driver', () => {
    const config = loadConfig({ AGENT_REGION: 'us-east', AGENT_ID: 'a1' });
    expect(config).toMatchObject({
      regions: ['us-east'],
      agentId: 'a1',
      driver: 'local',
      concurrency: 8,
      maxDeliver: 5,
      ackWaitMs: 15_000,
      hostname: 'localhost',
      tlsIssuer: 'private-ca',
      heartbeatMs: 10_000,
    });
  });

  it('accepts a comma-separated region list for the local stack', () => {
    const config = loadConfig({ AGENT_REGION: 'us-east, eu-west' });
    expect(config.regions).toEqual(['us-east', 'eu-west']);
  });

  it('parses numbers and NATS credentials', () => {
    const config = loadConfig({
      AGENT_REGION: 'eu-west',
      AGENT_CONCURRENCY: '3',
      AGENT_MAX_DELIVER: '2',
      HEARTBEAT_MS: '500',
      NATS_USER: 'agent',
      NATS_PASSWORD: 'pw',
      AGENT_DATA_DIR: '/tmp/x',
    });
    expect(config).toMatchObject({
      concurrency: 3,
      maxDeliver: 2,
      heartbeatMs: 500,
      dataDir: '/tmp/x',
      nats: {
        url: 'nats://127.0.0.1:4222',
        user: 'agent',
        password: 'pw',
        inboxPrefix: '_INBOX_eu-west',
      },
    });
  });

  it('gives each region its own inbox prefix unless NATS_INBOX_PREFIX says otherwise', () => {
    expect(loadConfig({ AGENT_REGION: 'us-east' }).nats.inboxPrefix).toBe('_INBOX_us-east');
    expect(
      loadConfig({ AGENT_REGION: 'us-east', NATS_INBOX_PREFIX: '_INBOX_x' }).nats.inboxPrefix,
    ).toBe('_INBOX_x');
    const tls = loadConfig({
      AGENT_REGION: 'us-east',
      NATS_TLS_CA_FILE: '/etc/nats/ca.crt',
      NATS_CREDS_FILE: '/c',
    }).nats;
    expect(tls).toMatchObject({ tlsCaFile: '/etc/nats/ca.crt', credsFile: '/c' });
  });

  it('lists every problem at once', () => {
    let error: unknown;
    try {
      loadConfig({ AGENT_REGION: 'US_EAST', AGENT_DRIVER: 'docker', AGENT_CONCURRENCY: '0' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('AGENT_REGION');
    expect(message).toContain('AGENT_DRIVER');
    expect(message).toContain('AGENT_CONCURRENCY');
  });

  it('bounds AGENT_ACK_WAIT_MS so the keep-alive (every ack_wait/3, at least 1 s) fits in it', () => {
    expect(loadConfig({ AGENT_REGION: 'us-east', AGENT_ACK_WAIT_MS: '3000' }).ackWaitMs).toBe(
      3_000,
    );
    expect(() => loadConfig({ AGENT_REGION: 'us-east', AGENT_ACK_WAIT_MS: '1000' })).toThrow(
      /AGENT_ACK_WAIT_MS/,
    );
    expect(() => loadConfig({ AGENT_REGION: 'us-east', AGENT_ACK_WAIT_MS: 'soon' })).toThrow(
      /AGENT_ACK_WAIT_MS/,
    );
  });

  it('rejects inconsistent combinations', () => {
    expect(() => loadConfig({ AGENT_REGION: 'us-east', NATS_USER: 'only-user' })).toThrow(
      /NATS_USER and NATS_PASSWORD/,
    );
    expect(() =>
      loadConfig({
        AGENT_REGION: 'us-east,eu-west',
        AGENT_DRIVER: 'kubernetes',
        AGENT_HOSTNAME: 'h',
      }),
    ).toThrow(/exactly one AGENT_REGION/);
  });

  it('requires a region', () => {
    expect(() => loadConfig({})).toThrow(ConfigError);
    expect(() => loadConfig({ AGENT_REGION: ' , ' })).toThrow(/at least one region/);
  });

  it('exports the env var names it reads', () => {
    expect(AGENT_ENV_VARS).toEqual(
      expect.arrayContaining([
        'AGENT_REGION',
        'AGENT_ID',
        'NATS_URL',
        'AGENT_DRIVER',
        'HEARTBEAT_MS',
      ]),
    );
  });
});
