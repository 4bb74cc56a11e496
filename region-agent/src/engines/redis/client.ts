/**
 * One short-lived, verified TLS connection to a redis server with ioredis: CA chain and server
 * name checked, bounded connect and command time, no reconnects, no offline queue, and
 * always disconnected afterwards.
 */
import { Redis } from 'ioredis';
import { clientContext } from '../../tls/client-context.js';
import type { ServerTarget } from '../engine.js';

export interface RedisClientOptions {
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
}

/** Connects as `target.user` (AUTH on connect) and runs `fn`; always disconnects. */
export async function withRedis<T>(
  target: ServerTarget,
  fn: (client: Redis) => Promise<T>,
  options: RedisClientOptions = {},
): Promise<T> {
  const client = new Redis({
    host: target.host,
    port: target.port,
    username: target.user,
    password: target.password,
    tls: {
      servername: target.servername,
      ...(target.ca ? { secureContext: clientContext(target.ca) } : {}),
    },
    protocol: 2,
    lazyConnect: true,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    disableClientInfo: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    commandTimeout: options.commandTimeoutMs ?? 5_000,
    // disconnect() ends the socket and waits this long for it to close; a socket that
    // failed already never reports it again, so a long wait only holds the process open.
    disconnectTimeout: 200,
  });
  // ioredis reports a failed handshake or AUTH as an event and rejects connect() with
  // "Connection is closed": the event says why.
  let failure: Error | undefined;
  client.on('error', (err: Error) => {
    failure ??= err;
  });
  try {
    await client.connect().catch((err: unknown) => {
      throw failure ?? err;
    });
    return await fn(client);
  } finally {
    client.disconnect();
  }
}
