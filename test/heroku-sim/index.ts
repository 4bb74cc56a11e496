/** The Heroku simulator's public surface. */
export { createHerokuSim, type HerokuSim } from './sim.js';
export type { HerokuDriver } from './heroku-driver.js';
export { runConformance, type ConformanceOptions, type ConformanceResult } from './conformance.js';
export { parseLogplexBody, formatLogplexBody, LogplexParseError } from './logplex.js';
export { PARTNER_ACCEPT, basicAuthHeader } from './driver.js';
export { API_ACCEPT } from './platform-api.js';
export { REGION_VALUES } from './regions.js';
export type * from './types.js';
