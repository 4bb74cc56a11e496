/** A private nats-server with JetStream per test file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNats, type NatsServer } from '../../deploy/local/nats.js';

export interface TestNats extends NatsServer {
  storeDir: string;
}

export async function startTestNats(): Promise<TestNats> {
  const storeDir = mkdtempSync(join(tmpdir(), 'cp-test-nats-'));
  const server = await startNats(storeDir);
  return {
    ...server,
    storeDir,
    stop: async () => {
      await server.stop();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}
