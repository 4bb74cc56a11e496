/** What the Heroku-facing use cases share: their dependencies and two small readings of them. */
import type { Logger } from '../../../../shared/src/logger.js';
import { findPlan } from '../../catalog/placement.js';
import type { Catalog } from '../../catalog/schema.js';
import type { Sealer } from '../../crypto.js';
import type { ResourceRow } from '../../db/resources.js';
import type { PrivateSpaceLookup } from '../../heroku/space-lookup.js';
import type { PendingDeps } from './outcome.js';
import type { OperationWaiter } from './waiter.js';

export interface UseCaseDeps extends PendingDeps {
  catalog: Catalog;
  waiter: OperationWaiter;
  log: Logger;
  privateSpaceLookup: PrivateSpaceLookup;
  /** Overrides every plan's sync budget (SYNC_BUDGET_MS). */
  syncBudgetOverrideMs?: number;
  /** How long a provision without an oauth_grant may wait before 503. */
  hardBudgetMs: number;
  conflictPolicy: 'queue' | 'reject';
  enabledAgentRegions: Set<string> | null;
  /** Agent regions whose agents are all silent (fleet/heartbeats.ts); new provisions avoid them. */
  downAgentRegions: () => ReadonlySet<string>;
  /** New work was committed: wake this replica's dispatcher and call worker now. */
  wake: () => void;
}

/** How long a request may wait for its operation before answering 202. */
export function budgetFor(deps: UseCaseDeps, plan: string): number {
  return deps.syncBudgetOverrideMs ?? findPlan(deps.catalog, plan).syncBudgetMs;
}

export function configOf(
  sealer: Sealer,
  resource: ResourceRow,
): Record<string, string> | undefined {
  return resource.config_enc
    ? sealer.openJson<Record<string, string>>(resource.config_enc)
    : undefined;
}
