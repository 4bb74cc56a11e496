/** The engines an agent runs, by the name jobs carry in `resource.engine`. */
import { PermanentError } from '../driver.js';
import type { Engine } from './engine.js';

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
