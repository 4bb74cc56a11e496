/** redis.conf and the ACL file, the same for a local process and a pod. */
import { createHash } from 'node:crypto';
import type { EngineInstance, ServerLayout } from '../engine.js';

export const CONF_FILE = 'redis.conf';
export const ACL_FILE = 'users.acl';

/**
 * TLS only (the plaintext port is 0; clients need not present certificates), the default
 * user off, persistence by append-only file (`appendonly yes`) in the data dir.
 */
export function renderConf(instance: EngineInstance, layout: ServerLayout): string {
  return [
    'port 0',
    `tls-port ${layout.port}`,
    ...(layout.bind ? [`bind ${layout.bind.join(' ')}`] : []),
    `tls-cert-file ${layout.tls.cert}`,
    `tls-key-file ${layout.tls.key}`,
    // A publicly trusted leaf may come without a CA file; redis only needs one to verify clients.
    ...(layout.tls.ca ? [`tls-ca-cert-file ${layout.tls.ca}`] : []),
    'tls-auth-clients no',
    `maxmemory ${instance.size.memoryMb}mb`,
    `aclfile ${layout.configDir}/${ACL_FILE}`,
    `dir ${layout.dataDir}`,
    'appendonly yes',
    ...(layout.pidFile ? [`pidfile ${layout.pidFile}`] : []),
    ...(layout.logFile ? [`logfile ${layout.logFile}`] : []),
    '',
  ].join('\n');
}

/** Password hashes only; the default user is disabled. */
export function renderAcl(instance: EngineInstance): string {
  const lines = ['user default off nopass nocommands'];
  for (const [name, password] of Object.entries(instance.users)) {
    lines.push(
      `user ${name} on #${createHash('sha256').update(password).digest('hex')} ~* &* +@all`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The ACL rule a user added live gets (the same as in the ACL file). */
export const userRules = (password: string): string[] => [
  'on',
  'resetpass',
  `>${password}`,
  '~*',
  '&*',
  '+@all',
];
