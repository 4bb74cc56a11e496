/**
 * A tiny RESP2 client over node:tls: enough to prove readiness (verified handshake, AUTH,
 * PING) and to administer an instance (CONFIG SET, ACL). Commands are sent one at a time.
 */
import { connect, type TLSSocket } from 'node:tls';

export type RespValue = string | number | null | RespValue[];

export class RespError extends Error {
  override name = 'RespError';
}

export interface RespTarget {
  host: string;
  port: number;
  /** Name checked against the certificate's SANs. */
  servername: string;
  /** Trusted CA PEM(s); more than one while a CA rotates. Omitted: the system trust store. */
  ca?: string | string[];
  timeoutMs?: number;
}

export interface RespClient {
  command(...args: string[]): Promise<RespValue>;
  close(): void;
}

function encode(args: string[]): Buffer {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) parts.push(`$${Buffer.byteLength(a)}\r\n${a}\r\n`);
  return Buffer.from(parts.join(''));
}

interface Parsed {
  value: RespValue | RespError;
  next: number;
}

/** Parses one reply starting at `at`; undefined when the buffer is incomplete. */
function parse(buf: Buffer, at: number): Parsed | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[at] ?? 0);
  const line = buf.toString('utf8', at + 1, eol);
  const after = eol + 2;
  switch (type) {
    case '+':
      return { value: line, next: after };
    case '-':
      return { value: new RespError(line), next: after };
    case ':':
      return { value: Number(line), next: after };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, next: after };
      if (buf.length < after + len + 2) return undefined;
      return { value: buf.toString('utf8', after, after + len), next: after + len + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next: after };
      const items: RespValue[] = [];
      let pos = after;
      for (let i = 0; i < count; i++) {
        const item = parse(buf, pos);
        if (!item) return undefined;
        items.push(item.value instanceof RespError ? item.value.message : item.value);
        pos = item.next;
      }
      return { value: items, next: pos };
    }
    default:
      throw new RespError(`unexpected RESP type byte ${JSON.stringify(type)}`);
  }
}

/** Opens a TLS connection that verifies the CA chain and the server name. */
export async function connectResp(target: RespTarget): Promise<RespClient> {
  const timeoutMs = target.timeoutMs ?? 5_000;
  const socket: TLSSocket = await new Promise((resolve, reject) => {
    const s = connect({
      host: target.host,
      port: target.port,
      servername: target.servername,
      ...(target.ca ? { ca: target.ca } : {}),
    });
    s.setTimeout(timeoutMs, () => s.destroy(new Error('TLS connection timed out')));
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
  let buffer = Buffer.alloc(0);
  let waiting: { resolve: (v: RespValue) => void; reject: (e: Error) => void } | undefined;
  const fail = (err: Error): void => {
    const w = waiting;
    waiting = undefined;
    w?.reject(err);
  };
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    const parsed = parse(buffer, 0);
    if (!parsed || !waiting) return;
    buffer = buffer.subarray(parsed.next);
    const w = waiting;
    waiting = undefined;
    if (parsed.value instanceof RespError) w.reject(parsed.value);
    else w.resolve(parsed.value);
  });
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('connection closed')));
  return {
    command(...args: string[]): Promise<RespValue> {
      if (waiting) return Promise.reject(new Error('one command at a time'));
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject };
        socket.write(encode(args));
      });
    },
    close(): void {
      socket.destroy();
    },
  };
}

/** Connects, authenticates and runs `fn`; always closes the connection. */
export async function withResp<T>(
  target: RespTarget,
  auth: { user: string; password: string },
  fn: (client: RespClient) => Promise<T>,
): Promise<T> {
  const client = await connectResp(target);
  try {
    await client.command('AUTH', auth.user, auth.password);
    return await fn(client);
  } finally {
    client.close();
  }
}
