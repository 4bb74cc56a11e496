/** Redis: TLS-only redis-server with ACL users; the URL is `rediss://user:password@host:port`. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { newCredentials } from '../credentials.js';
import type { Engine, EngineInstance, ServerLayout } from '../engine.js';
import { withRedis } from './client.js';
import { redisReadyOn } from './ready-on.js';
import { redisStats } from './stats.js';
import { ACL_FILE, CONF_FILE, renderAcl, renderConf, userRules } from './config.js';

export interface RedisEngineOptions {
  /** redis-server for local processes (unused by pods). */
  bin?: string;
  image?: string;
}

export const REDIS_PORT = 6379;

/**
 * Data written before persistence moved to the append-only file is a snapshot only, and
 * redis with `appendonly yes` and no AOF yet starts empty, ignoring it. Such a data dir keeps
 * being served from its snapshot, as it was written (`save 60 1`).
 */
export function snapshotOnly(dataDir: string): boolean {
  return existsSync(join(dataDir, 'dump.rdb')) && !existsSync(join(dataDir, 'appendonlydir'));
}

export function createRedisEngine(options: RedisEngineOptions = {}): Engine {
  const confPath = (layout: ServerLayout): string => `${layout.configDir}/${CONF_FILE}`;
  return {
    name: 'redis',
    port: REDIS_PORT,
    mounts: { config: '/etc/redis/tls', data: '/data' },
    newCredentials,
    configFiles: (instance: EngineInstance, layout: ServerLayout) => ({
      [CONF_FILE]: renderConf(instance, layout),
      [ACL_FILE]: renderAcl(instance),
    }),
    process: (layout) => ({
      bin: options.bin ?? 'redis-server',
      args: [
        confPath(layout),
        ...(snapshotOnly(layout.dataDir) ? ['--appendonly', 'no', '--save', '60 1'] : []),
      ],
    }),
    container(instance, layout) {
      // Headroom over maxmemory for redis's own allocations, replication and fork buffers.
      const memory = `${Math.ceil(instance.size.memoryMb * 1.25)}Mi`;
      return {
        image: options.image ?? 'redis:7.4-alpine',
        // The image's entrypoint runs redis-server with a config file argument.
        args: [confPath(layout)],
        uid: 999,
        resources: {
          requests: { cpu: `${instance.size.cpuMillis ?? 100}m`, memory },
          limits: { memory },
        },
        storageGb: instance.size.storageGb ?? 1,
      };
    },
    connectionConfig: (endpoint, c) => ({
      URL: `rediss://${c.user}:${encodeURIComponent(c.password)}@${endpoint.host}:${endpoint.port}`,
    }),
    ready: async (target) => (await withRedis(target, (c) => c.ping())) === 'PONG',
    readyOn: (socket, target) => redisReadyOn(socket, target),
    stats: redisStats,
    async resize(target, size): Promise<void> {
      await withRedis(target, (c) => c.config('SET', 'maxmemory', `${size.memoryMb}mb`));
    },
    async addUser(target, user): Promise<void> {
      await withRedis(target, (c) => c.acl('SETUSER', user.user, ...userRules(user.password)));
    },
    async removeUser(target, user): Promise<void> {
      await withRedis(target, (c) => c.acl('DELUSER', user));
    },
    async reloadTls(target, layout): Promise<void> {
      // CONFIG SET re-reads the TLS files; clients see the new leaf on their next handshake.
      const files = ['tls-cert-file', layout.tls.cert, 'tls-key-file', layout.tls.key];
      if (layout.tls.ca) files.push('tls-ca-cert-file', layout.tls.ca);
      await withRedis(target, (c) => c.call('CONFIG', ['SET', ...files]));
    },
  };
}
