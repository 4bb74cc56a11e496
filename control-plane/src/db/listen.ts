/**
 * LISTEN on a dedicated connection that comes back by itself. Every user of NOTIFY (the
 * outbox dispatcher, the operation waiter, the call worker) goes through this one helper,
 * so they reconnect alike: with a capped backoff, logging the loss once, and calling
 * `onReconnect` so the owner can sweep for what it missed while deaf.
 *
 * Why not a library (pg-listen)? This is the whole of it: pg's Client already parses
 * notifications; what was missing was one reconnect policy, not a protocol.
 */
import pg from 'pg';
import type { Logger } from '../../../shared/src/logger.js';

export interface ListenOptions {
  databaseUrl: string;
  channel: string;
  /** Names the listener in logs ("outbox", "operation waiter", "heroku calls"). */
  name: string;
  log: Logger;
  onNotify: (payload: string | undefined) => void;
  /** After a lost connection is back: notifications in between were missed. */
  onReconnect?: () => void;
  /** First reconnect delay; doubles up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface Listener {
  close(): Promise<void>;
}

/** Connects and listens (rejects if the first connect fails), then keeps it connected. */
export async function listen(options: ListenOptions): Promise<Listener> {
  const base = options.baseDelayMs ?? 500;
  const max = options.maxDelayMs ?? 10_000;
  let client: pg.Client | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: options.databaseUrl });
    c.on('notification', (n) => {
      if (n.channel === options.channel) options.onNotify(n.payload);
    });
    c.on('error', (err) => lost(c, err));
    c.on('end', () => lost(c));
    try {
      await c.connect();
      await c.query(`listen ${pg.escapeIdentifier(options.channel)}`);
    } catch (err) {
      c.removeAllListeners('end');
      await c.end().catch(() => undefined);
      throw err;
    }
    client = c;
  };

  function lost(c: pg.Client, err?: Error): void {
    if (closed || client !== c) return;
    client = undefined;
    options.log.warn({ err, listener: options.name }, 'listen connection lost; reconnecting');
    void c.end().catch(() => undefined);
    retry();
  }

  function retry(): void {
    if (closed) return;
    const delay = Math.min(max, base * 2 ** Math.min(failures, 16));
    timer = setTimeout(() => {
      connect().then(
        () => {
          failures = 0;
          options.log.info({ listener: options.name }, 'listen connection back');
          options.onReconnect?.();
        },
        (err: unknown) => {
          failures++;
          if (failures === 1 || failures % 10 === 0)
            options.log.warn({ err, listener: options.name, failures }, 'listen reconnect failed');
          retry();
        },
      );
    }, delay);
    timer.unref();
  }

  await connect();
  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      const c = client;
      client = undefined;
      await c?.end().catch(() => undefined);
    },
  };
}

/**
 * What a background worker wakes on: a NOTIFY on its channel, a reconnect (notifications
 * may have been missed), and a sweep every `sweepMs` (work other replicas committed without
 * a NOTIFY). Kicks once at start.
 */
export async function wakeups(
  options: Omit<ListenOptions, 'onNotify' | 'onReconnect'> & { sweepMs: number },
  kick: () => void,
): Promise<Listener> {
  const { sweepMs, ...listenOptions } = options;
  const listener = await listen({ ...listenOptions, onNotify: kick, onReconnect: kick });
  const timer = setInterval(kick, sweepMs);
  kick();
  return {
    async close() {
      clearInterval(timer);
      await listener.close();
    },
  };
}
