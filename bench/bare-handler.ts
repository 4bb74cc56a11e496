/**
 * The ceiling: a bare node:http handler doing what provision acceptance must do at minimum —
 * Basic auth, one INSERT, one JetStream publish — and nothing else.
 */
import { createServer } from 'node:http';
import { randomUUID, timingSafeEqual, createHash } from 'node:crypto';
import { connect } from 'nats';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
await pool.query(
  'create table if not exists bare_bench (id uuid primary key, body jsonb not null)',
);
const nc = await connect({ servers: process.env.NATS_URL });
const jsm = await nc.jetstreamManager();
await jsm.streams.add({ name: 'BAREBENCH', subjects: ['barebench.>'] }).catch(() => undefined);
const js = nc.jetstream();
const expected = createHash('sha256')
  .update(`Basic ${Buffer.from(process.env.AUTH ?? '').toString('base64')}`)
  .digest();

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
      const id = randomUUID();
      await pool.query('insert into bare_bench (id, body) values ($1, $2)', [id, body]);
      await js.publish('barebench.provision', new TextEncoder().encode(JSON.stringify(body)), {
        msgID: id,
      });
      res
        .writeHead(202, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ id: body.uuid }));
    })().catch(() => res.writeHead(500).end());
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  void nc
    .drain()
    .then(() => pool.end())
    .then(() => process.exit(0));
});
