/**
 * A tiny engine for tests, to prove drivers know nothing of redis: a TLS line-echo server
 * run by `node`. The first line a client sends is `<user> <password>` (checked against
 * sha256 hashes in `echo.json`, re-read for every connection, so users change live); the
 * server answers `OK` and echoes every further line, or `DENIED` and closes. Readiness is
 * that round trip over TLS with the chain and host name verified. The server script itself
 * is one of the config files, so a pod runs it from its Secret volume like redis.conf.
 */
import { createHash } from 'node:crypto';
import { connect } from 'node:tls';
import type { Engine, ServerLayout, ServerTarget } from '../../region-agent/src/engines/engine.js';
import { newCredentials } from '../../region-agent/src/engines/credentials.js';

const SERVER_FILE = 'echo-server.mjs';
const CONFIG_FILE = 'echo.json';
export const ECHO_IMAGE = 'node:22-alpine';

const SERVER_SCRIPT = `import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createSecureContext, createServer } from 'node:tls';

const configPath = process.argv[2];
const read = () => JSON.parse(readFileSync(configPath, 'utf8'));
const config = read();
const at = process.argv.indexOf('--bind');
const host = at > 0 ? process.argv[at + 1] : config.bind;
const tlsFiles = () => ({ cert: readFileSync(config.cert), key: readFileSync(config.key) });
const sha256 = (s) => createHash('sha256').update(s).digest('hex');
// A renewed leaf is served from the next handshake on: the files are read per connection.
const server = createServer(
  { ...tlsFiles(), SNICallback: (_name, cb) => cb(null, createSecureContext(tlsFiles())) },
  (socket) => {
    socket.on('error', () => undefined);
    let state = 'new';
    // readline re-emits the socket's errors (a client resetting the connection after DENIED):
    // without a listener that would crash the server, which a real server never does.
    const lines = createInterface({ input: socket });
    lines.on('error', () => undefined);
    lines.on('line', (line) => {
      if (state === 'authed') return void socket.write(line + '\\n');
      if (state === 'denied') return;
      const [user, password = ''] = line.split(' ');
      const hash = read().users[user];
      state = hash !== undefined && hash === sha256(password) ? 'authed' : 'denied';
      if (state === 'authed') socket.write('OK\\n');
      else socket.end('DENIED\\n');
    });
  },
);
server.listen(config.port, host, () => {
  if (config.pidFile) writeFileSync(config.pidFile, String(process.pid));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Sends the credentials and one line; resolves with the reply lines. */
function roundTrip(target: ServerTarget, line: string, timeoutMs = 5_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: target.host,
      port: target.port,
      servername: target.servername,
      ...(target.ca ? { ca: target.ca } : {}),
    });
    let received = '';
    const done = (): void => {
      socket.destroy();
      resolve(received.split('\n').filter(Boolean));
    };
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('echo: timed out')));
    socket.once('secureConnect', () =>
      socket.write(`${target.user} ${target.password}\n${line}\n`),
    );
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
      if (received.split('\n').length > 2 || received.startsWith('DENIED')) done();
    });
    socket.once('end', done);
    socket.once('error', reject);
  });
}

export function createEchoEngine(): Engine {
  const files = (layout: ServerLayout): string[] => [
    `${layout.configDir}/${SERVER_FILE}`,
    `${layout.configDir}/${CONFIG_FILE}`,
  ];
  return {
    name: 'echo',
    port: 7000,
    mounts: { config: '/etc/echo', data: '/data' },
    newCredentials,
    configFiles: (instance, layout) => ({
      [SERVER_FILE]: SERVER_SCRIPT,
      [CONFIG_FILE]: JSON.stringify({
        port: layout.port,
        bind: layout.bind?.[0],
        cert: layout.tls.cert,
        key: layout.tls.key,
        pidFile: layout.pidFile,
        users: Object.fromEntries(Object.entries(instance.users).map(([u, p]) => [u, sha256(p)])),
      }),
    }),
    process: (layout) => ({ bin: process.execPath, args: files(layout) }),
    container: (_instance, layout) => ({
      image: ECHO_IMAGE,
      command: ['node', ...files(layout)],
      args: [],
      uid: 1000,
      resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '32Mi' } },
      storageGb: 1,
    }),
    connectionConfig: (endpoint, c) => ({
      URL: `echos://${c.user}:${encodeURIComponent(c.password)}@${endpoint.host}:${endpoint.port}`,
    }),
    async ready(target): Promise<boolean> {
      const reply = await roundTrip(target, 'ping');
      if (reply[0] === 'DENIED') throw new Error(`echo: user ${target.user} DENIED`);
      return reply[0] === 'OK' && reply[1] === 'ping';
    },
    // Size is not enforced; users and the leaf are re-read by the server for each connection.
    resize: async () => {},
    addUser: async () => {},
    removeUser: async () => {},
    reloadTls: async () => {},
  };
}
