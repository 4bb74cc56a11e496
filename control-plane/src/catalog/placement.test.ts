import { loadCatalog, describeCatalog } from './load.js';
import { decidePlacement, type Placement } from './placement.js';
import { UnprocessableError } from '../../../shared/src/errors.js';

const catalog = loadCatalog();
type Input = { plan: string; region: string };

/** Placement that must not need a lookup. */
function placed(input: Input, enabled?: Set<string>): Placement {
  const d = decidePlacement(catalog, input, enabled);
  if (d.kind !== 'placed') throw new Error('expected a placement without a lookup');
  return d.placement;
}

/** Placement that needs the lookup, placed with its answer. */
function lookedUp(input: Input, privateSpace: boolean): Placement {
  const d = decidePlacement(catalog, input);
  if (d.kind !== 'needs_lookup') throw new Error('expected a lookup');
  return d.placeWith(privateSpace);
}

function refusal(fn: () => unknown): UnprocessableError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UnprocessableError);
    return err as UnprocessableError;
  }
  throw new Error('expected a refusal');
}

describe('placement', () => {
  it('places a Common Runtime plan in eu', () => {
    const p = lookedUp({ plan: 'mini', region: 'amazon-web-services::eu-west-1' }, false);
    expect(p.region.name).toBe('eu');
    expect(p.agentRegion).toBe('eu-west');
    expect(p.privateSpace).toBe(false);
  });

  it('refuses an unknown plan, naming the plans', () => {
    const err = refusal(() => placed({ plan: 'gold', region: 'amazon-web-services::us-east-1' }));
    expect(err.code).toBe('unknown_plan');
    expect(err.message).toContain('mini, standard, premium');
  });

  it('refuses an unknown region', () => {
    const err = refusal(() => placed({ plan: 'mini', region: 'amazon-web-services::sa-east-1' }));
    expect(err.code).toBe('unknown_region');
    expect(err.message).toContain('sa-east-1');
  });

  it('refuses a non-Private-Space plan in a Private Space-only region without a lookup', () => {
    const err = refusal(() =>
      placed({ plan: 'mini', region: 'amazon-web-services::eu-central-1' }),
    );
    expect(err.code).toBe('plan_not_in_private_spaces');
    expect(err.message).toContain('standard, premium');
  });

  it('asks the lookup for a shared value when the plan is not Private Space-capable', () => {
    const inSpace = refusal(() =>
      lookedUp({ plan: 'mini', region: 'amazon-web-services::us-east-1' }, true),
    );
    expect(inSpace.code).toBe('plan_not_in_private_spaces');
    expect(inSpace.message).toContain('virginia');
    const common = lookedUp({ plan: 'mini', region: 'amazon-web-services::us-east-1' }, false);
    expect(common.region.name).toBe('us');
  });

  it('skips the lookup when a shared value does not change the outcome', () => {
    const p = placed({ plan: 'standard', region: 'amazon-web-services::us-east-1' });
    expect(p.privateSpace).toBeNull();
    expect(p.agentRegion).toBe('us-east');
  });

  it('refuses a plan that cannot be placed near the region', () => {
    const err = refusal(() =>
      placed({ plan: 'premium', region: 'amazon-web-services::ap-northeast-1' }),
    );
    expect(err.code).toBe('plan_cannot_be_placed');
    expect(err.message).toContain('standard');
  });

  it('falls back to the next agent region when the nearest is disabled', () => {
    const p = placed(
      { plan: 'standard', region: 'amazon-web-services::eu-west-1' },
      new Set(['eu-central']),
    );
    expect(p.agentRegion).toBe('eu-central');
  });

  it('describes every region with its Heroku value', () => {
    const d = describeCatalog(catalog) as {
      regions: Array<{ value: string; privateSpace: boolean }>;
      plans: Array<{ privateSpaces: boolean }>;
    };
    expect(d.regions.filter((r) => r.value === 'amazon-web-services::us-east-1')).toHaveLength(2);
    expect(d.plans.some((p) => !p.privateSpaces)).toBe(true);
    expect(d.plans.some((p) => p.privateSpaces)).toBe(true);
  });
});
