/**
 * Plays a region agent in control-plane tests: consumes jobs for one region and publishes
 * results after a configurable delay, over the real wire contract.
 */
import { AckPolicy, connect, type NatsConnection } from 'nats';
import {
  decodeMessage,
  encodeMessage,
  JobSchema,
  MESSAGE_VERSION,
  type Job,
  type Result,
} from '../../shared/src/messages.js';
import {
  JOBS_STREAM,
  jobsConsumerName,
  jobsFilter,
  resultSubject,
} from '../../shared/src/subjects.js';

export interface FakeAgent {
  jobs: Job[];
  stop(): Promise<void>;
}

export interface FakeAgentOptions {
  region: string;
  delayMs?: number | ((job: Job) => number);
  fail?: (job: Job) => boolean;
  /** Report a CA (`<prefix>_TLS_CA`) and a certificate expiry, as the real agent does. */
  tls?: FakeTls;
}

export interface FakeTls {
  caPem: string;
  notAfter: string;
}

/** A PEM-shaped stand-in for a region CA (nothing verifies against it). */
export const FAKE_TLS: FakeTls = {
  caPem: '-----BEGIN CERTIFICATE-----\nZmFrZSByZWdpb24gQ0E=\n-----END CERTIFICATE-----\n',
  notAfter: new Date(Date.now() + 90 * 86_400_000).toISOString(),
};

/** The instance user: rotations add `u<generation>`, like the real agent. */
function user(job: Job): string {
  return job.kind === 'rotate_credentials' ? `u${job.generation}` : 'u1';
}

export function resultFor(job: Job, status: 'succeeded' | 'failed', tls?: FakeTls): Result {
  const prefix = job.configVarsPrefix;
  const ok = status === 'succeeded' && job.kind !== 'deprovision';
  return {
    version: MESSAGE_VERSION,
    operationId: job.operationId,
    uuid: job.resource.uuid,
    kind: job.kind,
    generation: job.generation,
    agentRegion: job.resource.agentRegion,
    agentId: 'fake-agent',
    status,
    config: ok
      ? {
          [`${prefix}_URL`]: `rediss://${user(job)}:secret-${job.resource.uuid.slice(0, 8)}-${job.resource.plan}${job.kind === 'rotate_credentials' ? `-g${job.generation}` : ''}@localhost:6380`,
          ...(tls ? { [`${prefix}_TLS_CA`]: tls.caPem } : {}),
        }
      : undefined,
    endpoint: { host: 'localhost', port: 6380 },
    ...(ok && tls ? { certificate: { notAfter: tls.notAfter, fingerprint: 'FA:KE' } } : {}),
    error:
      status === 'failed'
        ? { code: 'boom', message: 'the instance did not start', retryable: false }
        : undefined,
    at: new Date().toISOString(),
  };
}

export async function startFakeAgent(natsUrl: string, opts: FakeAgentOptions): Promise<FakeAgent> {
  const nc: NatsConnection = await connect({ servers: natsUrl });
  const jsm = await nc.jetstreamManager();
  const name = jobsConsumerName(opts.region);
  await jsm.consumers.add(JOBS_STREAM, {
    durable_name: name,
    filter_subject: jobsFilter(opts.region),
    ack_policy: AckPolicy.Explicit,
  });
  const js = nc.jetstream();
  const consumer = await js.consumers.get(JOBS_STREAM, name);
  const messages = await consumer.consume();
  const jobs: Job[] = [];
  const pending = new Set<Promise<void>>();
  const loop = (async () => {
    for await (const msg of messages) {
      const job = decodeMessage(JobSchema, msg.data);
      jobs.push(job);
      const delay = typeof opts.delayMs === 'function' ? opts.delayMs(job) : (opts.delayMs ?? 0);
      const p = (async () => {
        await new Promise((r) => setTimeout(r, delay));
        const status = opts.fail?.(job) ? 'failed' : 'succeeded';
        await js.publish(
          resultSubject(opts.region, job.resource.uuid),
          encodeMessage(resultFor(job, status, opts.tls)),
          {
            msgID: `${job.operationId}:${job.attempt}:${status}`,
          },
        );
        msg.ack();
      })()
        .catch(() => msg.nak())
        .finally(() => pending.delete(p));
      pending.add(p);
    }
  })();
  return {
    jobs,
    async stop() {
      await messages.close();
      await loop;
      await Promise.all(pending);
      await nc.drain();
    },
  };
}
