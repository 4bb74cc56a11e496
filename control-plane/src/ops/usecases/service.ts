/**
 * The Heroku-facing use cases behind one interface: provision, plan change, deprovision.
 * Each returns an Outcome (outcome.ts); http/heroku-routes.ts turns it into Heroku's answer.
 */
import { changePlan } from './plan-change.js';
import { deprovision } from './deprovision.js';
import type { UseCaseDeps } from './deps.js';
import { outcomeOf, type Outcome } from './outcome.js';
import { provision, type ProvisionInput } from './provision.js';

export type { ProvisionInput } from './provision.js';
export type { UseCaseDeps as ServiceDeps } from './deps.js';

export interface Service {
  provision(input: ProvisionInput, requestId?: string): Promise<Outcome>;
  changePlan(uuid: string, plan: string, requestId?: string): Promise<Outcome>;
  deprovision(uuid: string, requestId?: string): Promise<Outcome>;
}

export function createService(deps: UseCaseDeps): Service {
  // A request's use case logs through a child logger naming the request.
  const scoped = (requestId: string | undefined): UseCaseDeps =>
    requestId ? { ...deps, log: deps.log.child({ requestId }) } : deps;
  return {
    provision: (input, requestId) =>
      outcomeOf(() => provision(scoped(requestId), input, requestId)),
    changePlan: (uuid, plan, requestId) =>
      outcomeOf(() => changePlan(scoped(requestId), uuid, plan, requestId)),
    deprovision: (uuid, requestId) =>
      outcomeOf(() => deprovision(scoped(requestId), uuid, requestId)),
  };
}
