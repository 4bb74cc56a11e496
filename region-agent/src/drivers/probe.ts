/** Honest readiness over the network: a verified TLS handshake (chain + hostname), AUTH, PING. */
import { withResp } from '../engines/redis/resp-client.js';

export interface ProbeTarget {
  host: string;
  port: number;
  servername: string;
  /** Undefined: the system trust store (a publicly trusted certificate). */
  ca: string | undefined;
  user: string;
  password: string;
}

export async function tlsProbe(t: ProbeTarget): Promise<boolean> {
  const target = {
    host: t.host,
    port: t.port,
    servername: t.servername,
    ...(t.ca ? { ca: t.ca } : {}),
  };
  return (
    (await withResp(target, { user: t.user, password: t.password }, (c) => c.command('PING'))) ===
    'PONG'
  );
}
