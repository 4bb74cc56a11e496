/** The engines an agent runs, by the name jobs carry in `resource.engine`. */
import { requireBinary } from '../../../shared/src/binaries.js';
import type { Logger } from '../../../shared/src/logger.js';
import { PermanentError } from '../driver.js';
import type { Engine } from './engine.js';
import { createRedisEngine } from './redis/engine.js';

/** The engine of instances recorded before jobs named one (local state.json without `engine`). */
export const LEGACY_ENGINE = 'redis';

export interface Engines {
  /** The engine for a job; an unknown name is a permanent failure (`unknown_engine`). */
  get(name: string): Engine;
  all(): Engine[];
}

export function createEngines(engines: Engine[]): Engines {
  const byName = new Map(engines.map((e) => [e.name, e]));
  return {
    get(name: string): Engine {
      const engine = byName.get(name);
      if (!engine)
        throw new PermanentError(
          'unknown_engine',
          `engine ${JSON.stringify(name)} is not one this agent runs (${[...byName.keys()].join(', ')})`,
        );
      return engine;
    },
    all: () => [...byName.values()],
  };
}

/**
 * The engines an agent runs. Local processes need the engines' binaries on this machine
 * (installed with apt-get when missing and root); pods bring their own images.
 */
export function createAgentEngines(opts: { localProcesses: boolean; log: Logger }): Engines {
  if (!opts.localProcesses) return createEngines([createRedisEngine()]);
  const bin = requireBinary('redis-server', (line) =>
    opts.log.info({ line }, 'installing system package'),
  );
  return createEngines([createRedisEngine({ bin })]);
}
