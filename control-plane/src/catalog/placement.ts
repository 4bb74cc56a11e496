/**
 * Plan × region checks and placement. Every refusal is an UnprocessableError whose
 * message a customer can act on (Heroku shows 422 messages verbatim).
 */
import { UnprocessableError } from '../../../shared/src/errors.js';
import type { Catalog, Plan, Region } from './schema.js';

export interface Placement {
  plan: Plan;
  region: Region;
  /** true / false when known; null when the region value is shared and it did not matter. */
  privateSpace: boolean | null;
  agentRegion: string;
}

/** Answers "is this add-on's app in a Private Space?" for the shared region values. */
export type PrivateSpaceLookup = () => Promise<boolean>;

export function findPlan(catalog: Catalog, name: string): Plan {
  const plan = catalog.plans.find((p) => p.name === name);
  if (!plan) {
    throw new UnprocessableError(
      'unknown_plan',
      `Unknown plan "${name}". Available plans: ${catalog.plans.map((p) => p.name).join(', ')}.`,
    );
  }
  return plan;
}

function regionList(regions: Region[]): string {
  return regions.map((r) => r.name).join(', ');
}

function plansFor(catalog: Catalog, region: Region): string[] {
  return catalog.plans
    .filter((p) => p.regions.includes(region.name) && (!region.privateSpace || p.privateSpaces))
    .filter((p) => pickAgentRegion(p, region, null) !== undefined)
    .map((p) => p.name);
}

function pickAgentRegion(
  plan: Plan,
  region: Region,
  enabled: Set<string> | null,
): string | undefined {
  return [region.agentRegion, ...region.fallbackAgentRegions].find(
    (a) => (!plan.agentRegions || plan.agentRegions.includes(a)) && (!enabled || enabled.has(a)),
  );
}

function describe(region: Region): string {
  return region.privateSpace ? `the ${region.name} Private Space region` : `region ${region.name}`;
}

/** Check one plan against one concrete catalog region and place it. */
export function placeIn(
  catalog: Catalog,
  plan: Plan,
  region: Region,
  enabledAgentRegions: Set<string> | null = null,
): string {
  if (region.privateSpace && !plan.privateSpaces) {
    const ok = plansFor(catalog, region);
    throw new UnprocessableError(
      'plan_not_in_private_spaces',
      `Plan "${plan.name}" is not available in Private Spaces. ` +
        (ok.length
          ? `Plans available in ${describe(region)}: ${ok.join(', ')}.`
          : `No plan is available in ${describe(region)}.`),
    );
  }
  if (!plan.regions.includes(region.name)) {
    const ok = plansFor(catalog, region);
    throw new UnprocessableError(
      'plan_not_in_region',
      `Plan "${plan.name}" is not available in ${describe(region)}. ` +
        (ok.length ? `Plans available there: ${ok.join(', ')}.` : '') +
        ` Regions for ${plan.name}: ${plan.regions.join(', ')}.`,
    );
  }
  const agent = pickAgentRegion(plan, region, enabledAgentRegions);
  if (!agent) {
    const ok = plansFor(catalog, region).filter((p) => p !== plan.name);
    throw new UnprocessableError(
      'plan_cannot_be_placed',
      `Plan "${plan.name}" cannot be placed in ${describe(region)}: no cluster near ${region.name} hosts it right now.` +
        (ok.length ? ` Plans available there: ${ok.join(', ')}.` : ''),
    );
  }
  return agent;
}

export function regionsForValue(catalog: Catalog, value: string): Region[] {
  const entries = catalog.regions.filter((r) => r.value === value);
  if (entries.length === 0) {
    const known = catalog.regions.filter((r) => !r.privateSpace);
    throw new UnprocessableError(
      'unknown_region',
      `Region "${value}" is not supported by this add-on. Supported regions: ${regionList(known)}` +
        ` and the Private Space regions ${regionList(catalog.regions.filter((r) => r.privateSpace))}.`,
    );
  }
  return entries;
}

/**
 * Decide where a provision goes. For a region value shared by the Common Runtime and a
 * Private Space, ask `lookup` only when the answer changes the outcome.
 */
export async function place(
  catalog: Catalog,
  input: { plan: string; region: string },
  lookup: PrivateSpaceLookup,
  enabledAgentRegions: Set<string> | null = null,
): Promise<Placement> {
  const plan = findPlan(catalog, input.plan);
  const entries = regionsForValue(catalog, input.region);
  const flags = new Set(entries.map((e) => e.privateSpace));
  if (flags.size === 1) {
    const region = entries.find((e) => plan.regions.includes(e.name)) ?? entries[0]!;
    return {
      plan,
      region,
      privateSpace: region.privateSpace,
      agentRegion: placeIn(catalog, plan, region, enabledAgentRegions),
    };
  }
  const common = entries.find((e) => !e.privateSpace)!;
  const space = entries.find((e) => e.privateSpace)!;
  const sameOutcome =
    plan.privateSpaces &&
    outcome(catalog, plan, common, enabledAgentRegions) ===
      outcome(catalog, plan, space, enabledAgentRegions);
  if (sameOutcome) {
    return {
      plan,
      region: common,
      privateSpace: null,
      agentRegion: placeIn(catalog, plan, common, enabledAgentRegions),
    };
  }
  const isPrivate = await lookup();
  const region = isPrivate ? space : common;
  return {
    plan,
    region,
    privateSpace: isPrivate,
    agentRegion: placeIn(catalog, plan, region, enabledAgentRegions),
  };
}

function outcome(
  catalog: Catalog,
  plan: Plan,
  region: Region,
  enabled: Set<string> | null,
): string {
  try {
    return `ok:${placeIn(catalog, plan, region, enabled)}`;
  } catch (err) {
    return `refused:${(err as Error).message}`;
  }
}
