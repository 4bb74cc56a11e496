import { loadCatalog, describeCatalog } from './load.js';
import { place, type PrivateSpaceLookup } from './placement.js';
import { UnprocessableError } from '../../../shared/src/errors.js';

const catalog = loadCatalog();
const never: PrivateSpaceLookup = () => Promise.reject(new Error('lookup must not be called'));
const answer =
  (v: boolean): PrivateSpaceLookup =>
  () =>
    Promise.resolve(v);

async function refusal(p: Promise<unknown>): Promise<UnprocessableError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(UnprocessableError);
    return err as UnprocessableError;
  }
  throw new Error('expected a refusal');
}

describe('placement', () => {
  it('places a Common Runtime plan in eu', async () => {
    const p = await place(
      catalog,
      { plan: 'mini', region: 'amazon-web-services::eu-west-1' },
      answer(false),
    );
    expect(p.region.name).toBe('eu');
    expect(p.agentRegion).toBe('eu-west');
    expect(p.privateSpace).toBe(false);
  });

  it('refuses an unknown plan, naming the plans', async () => {
    const err = await refusal(
      place(catalog, { plan: 'gold', region: 'amazon-web-services::us-east-1' }, never),
    );
    expect(err.code).toBe('unknown_plan');
    expect(err.message).toContain('mini, standard, premium');
  });

  it('refuses an unknown region', async () => {
    const err = await refusal(
      place(catalog, { plan: 'mini', region: 'amazon-web-services::sa-east-1' }, never),
    );
    expect(err.code).toBe('unknown_region');
    expect(err.message).toContain('sa-east-1');
  });

  it('refuses a non-Private-Space plan in a Private Space-only region without a lookup', async () => {
    const err = await refusal(
      place(catalog, { plan: 'mini', region: 'amazon-web-services::eu-central-1' }, never),
    );
    expect(err.code).toBe('plan_not_in_private_spaces');
    expect(err.message).toContain('standard, premium');
  });

  it('asks the lookup for a shared value when the plan is not Private Space-capable', async () => {
    const inSpace = await refusal(
      place(catalog, { plan: 'mini', region: 'amazon-web-services::us-east-1' }, answer(true)),
    );
    expect(inSpace.code).toBe('plan_not_in_private_spaces');
    expect(inSpace.message).toContain('virginia');
    const common = await place(
      catalog,
      { plan: 'mini', region: 'amazon-web-services::us-east-1' },
      answer(false),
    );
    expect(common.region.name).toBe('us');
  });

  it('skips the lookup when a shared value does not change the outcome', async () => {
    const p = await place(
      catalog,
      { plan: 'standard', region: 'amazon-web-services::us-east-1' },
      never,
    );
    expect(p.privateSpace).toBeNull();
    expect(p.agentRegion).toBe('us-east');
  });

  it('refuses a plan that cannot be placed near the region', async () => {
    const err = await refusal(
      place(catalog, { plan: 'premium', region: 'amazon-web-services::ap-northeast-1' }, never),
    );
    expect(err.code).toBe('plan_cannot_be_placed');
    expect(err.message).toContain('standard');
  });

  it('falls back to the next agent region when the nearest is disabled', async () => {
    const p = await place(
      catalog,
      { plan: 'standard', region: 'amazon-web-services::eu-west-1' },
      never,
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
