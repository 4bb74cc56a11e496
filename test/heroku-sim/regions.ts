/** Heroku region names → the `region` value Heroku puts in a provision request (§10.1). */
export const REGION_VALUES: Record<string, string> = {
  us: 'amazon-web-services::us-east-1',
  eu: 'amazon-web-services::eu-west-1',
  virginia: 'amazon-web-services::us-east-1',
  dublin: 'amazon-web-services::eu-west-1',
  frankfurt: 'amazon-web-services::eu-central-1',
  oregon: 'amazon-web-services::us-west-2',
  singapore: 'amazon-web-services::ap-southeast-1',
  sydney: 'amazon-web-services::ap-southeast-2',
  tokyo: 'amazon-web-services::ap-northeast-1',
  london: 'amazon-web-services::eu-west-2',
  montreal: 'amazon-web-services::ca-central-1',
  mumbai: 'amazon-web-services::ap-south-1',
};

const PRIVATE_SPACE_REGIONS = new Set([
  'virginia',
  'dublin',
  'frankfurt',
  'oregon',
  'singapore',
  'sydney',
  'tokyo',
  'london',
  'montreal',
  'mumbai',
]);

/** Returns the request value and the Heroku region name for either spelling. */
export function resolveRegion(
  region: string,
  privateSpace: boolean,
): { value: string; name: string } {
  if (region.includes('::')) {
    const entries = Object.entries(REGION_VALUES).filter(([, v]) => v === region);
    const match =
      entries.find(([n]) => PRIVATE_SPACE_REGIONS.has(n) === privateSpace) ?? entries[0];
    return { value: region, name: match?.[0] ?? region.split('::')[1] ?? region };
  }
  const value = REGION_VALUES[region];
  if (!value) throw new Error(`unknown Heroku region ${JSON.stringify(region)}`);
  return { value, name: region };
}
