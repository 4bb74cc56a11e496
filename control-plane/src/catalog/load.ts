import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { CatalogSchema, type Catalog } from './schema.js';

export const DEFAULT_CATALOG_PATH = fileURLToPath(new URL('../../catalog.json', import.meta.url));

export class CatalogError extends Error {
  override name = 'CatalogError';
}

export function parseCatalog(raw: unknown, source = 'catalog'): Catalog {
  const parsed = CatalogSchema.safeParse(raw);
  if (!parsed.success) {
    throw new CatalogError(`${source} is invalid:\n${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

export function loadCatalog(path: string = DEFAULT_CATALOG_PATH): Catalog {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new CatalogError(`cannot read catalog ${path}`, { cause });
  }
  return parseCatalog(raw, path);
}

/** The JSON `npm run catalog` prints: plans and regions with their derived facts. */
export function describeCatalog(catalog: Catalog): unknown {
  return {
    plans: catalog.plans.map((p) => ({
      name: p.name,
      description: p.description,
      engine: p.engine,
      size: p.size,
      privateSpaces: p.privateSpaces,
      regions: p.regions,
      agentRegions: p.agentRegions ?? catalog.agentRegions.map((a) => a.name),
      syncBudgetMs: p.syncBudgetMs,
    })),
    regions: catalog.regions.map((r) => ({
      value: r.value,
      name: r.name,
      privateSpace: r.privateSpace,
      agentRegion: r.agentRegion,
      fallbackAgentRegions: r.fallbackAgentRegions,
      sharedValue: catalog.regions.some((o) => o !== r && o.value === r.value),
    })),
    agentRegions: catalog.agentRegions,
  };
}
