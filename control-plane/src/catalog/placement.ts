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

/** The first of the region's agent regions (own, then fallbacks) the plan allows, skipping `avoid`. */
function pickAgentRegion(
  plan: Plan,
  region: Region,
  enabled: Set<string> | null,
  avoid: ReadonlySet<string> = new Set(),
): string | undefined {
  return [region.agentRegion, ...region.fallbackAgentRegions].find(
    (a) =>
      !avoid.has(a) &&
      (!plan.agentRegions || plan.agentRegions.includes(a)) &&
      (!enabled || enabled.has(a)),
  );
}

/**
 * Where the placement's instance should go now: its agent region, or, when every agent of
 * that region is silent (`down`), the first live fallback its plan and region allow. With
 * no live choice it stays where it was placed (it waits there, as it would have anyway).
 */
export function liveAgentRegion(
  placement: Pick<Placement, 'plan' | 'region' | 'agentRegion'>,
  enabled: Set<string> | null,
  down: ReadonlySet<string>,
): string {
  if (!down.has(placement.agentRegion)) return placement.agentRegion;
  return pickAgentRegion(placement.plan, placement.region, enabled, down) ?? placement.agentRegion;
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
 * Where a provision goes, or what is still needed to know it. For a region value shared by
 * the Common Runtime and a Private Space, the answer depends on the app only when the two
 * outcomes differ: then the decision asks for the lookup (`needs_lookup`) and places with
 * its answer. Refusals throw UnprocessableError.
 */
export type PlacementDecision =
  | { kind: 'placed'; placement: Placement }
  | { kind: 'needs_lookup'; placeWith(privateSpace: boolean): Placement };

export function decidePlacement(
  catalog: Catalog,
  input: { plan: string; region: string },
  enabledAgentRegions: Set<string> | null = null,
): PlacementDecision {
  const plan = findPlan(catalog, input.plan);
  const entries = regionsForValue(catalog, input.region);
  const at = (region: Region, privateSpace: boolean | null): Placement => ({
    plan,
    region,
    privateSpace,
    agentRegion: placeIn(catalog, plan, region, enabledAgentRegions),
  });
  const flags = new Set(entries.map((e) => e.privateSpace));
  if (flags.size === 1) {
    const region = entries.find((e) => plan.regions.includes(e.name)) ?? entries[0]!;
    return { kind: 'placed', placement: at(region, region.privateSpace) };
  }
  const common = entries.find((e) => !e.privateSpace)!;
  const space = entries.find((e) => e.privateSpace)!;
  const sameOutcome =
    plan.privateSpaces &&
    outcome(catalog, plan, common, enabledAgentRegions) ===
      outcome(catalog, plan, space, enabledAgentRegions);
  if (sameOutcome) return { kind: 'placed', placement: at(common, null) };
  return {
    kind: 'needs_lookup',
    placeWith: (isPrivate) => at(isPrivate ? space : common, isPrivate),
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
