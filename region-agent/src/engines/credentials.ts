/** Credential naming and generation shared by engines: user `u<generation>`, a random password. */
import { randomBytes } from 'node:crypto';
import type { Credentials } from './engine.js';

export function newCredentials(generation: number): Credentials {
  return { user: `u${generation}`, password: randomBytes(24).toString('base64url') };
}
