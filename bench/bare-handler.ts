/**
 * The baselines the control plane is measured against, as bare node:http handlers:
 * - `BARE_MODE=floor`: the durable-commit floor: Basic auth, then one transaction of two
 *   INSERTs (the resource and its operation). Nothing can accept a provision durably faster.
 * - `BARE_MODE=ceiling` (default): the floor plus one synchronous JetStream publish.
 */
import { createServer } from 'node:http';
import { randomUUID, timingSafeEqual, createHash } from 'node:crypto';
import { connect } from 'nats';
import pg from 'pg';

const mode = process.env.BARE_MODE === 'floor' ? 'floor' : 'ceiling';
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
await pool.query(
  `create table if not exists bare_resources (id uuid primary key, body jsonb not null);
   create table if not exists bare_operations (id uuid primary key, resource uuid not null)`,
);
const nc = mode === 'ceiling' ? await connect({ servers: process.env.NATS_URL }) : undefined;
if (nc) {
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: 'BAREBENCH', subjects: ['barebench.>'] }).catch(() => undefined);
}
const js = nc?.jetstream();
const expected = createHash('sha256')
  .update(`Basic ${Buffer.from(process.env.AUTH ?? '').toString('base64')}`)
  .digest();

async function accept(body: { uuid: string }): Promise<void> {
  const id = randomUUID();
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query('insert into bare_resources (id, body) values ($1, $2)', [body.uuid, body]);
    await client.query('insert into bare_operations (id, resource) values ($1, $2)', [
      id,
      body.uuid,
    ]);
    await client.query('commit');
  } finally {
    client.release();
  }
  await js?.publish('barebench.provision', new TextEncoder().encode(JSON.stringify(body)), {
    msgID: id,
  });
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    void (async () => {
      const got = createHash('sha256')
        .update(req.headers.authorization ?? '')
        .digest();
      if (!timingSafeEqual(got, expected)) {
        res.writeHead(401).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { uuid: string };
      await accept(body);
      res
        .writeHead(202, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ id: body.uuid }));
    })().catch(() => res.writeHead(500).end());
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  void (nc ? nc.drain() : Promise.resolve()).then(() => pool.end()).then(() => process.exit(0));
});
