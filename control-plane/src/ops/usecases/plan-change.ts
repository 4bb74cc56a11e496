/**
 * Plan change, as a line: the resource can change → the new plan fits where it runs → one
 * transaction (generation, operation, audit) → wait within the plan's budget → outcome.
 * A change to the current plan is a logged 200 no-op, as Heroku's contract asks.
 */
import { randomUUID } from 'node:crypto';
import { GoneError, NotFoundError, UnprocessableError } from '../../../../shared/src/errors.js';
import { findPlan, placeIn } from '../../catalog/placement.js';
import type { Plan } from '../../catalog/schema.js';
import { audit } from '../../db/audit.js';
import { insertOperation, latestOperation, openOperations } from '../../db/operations.js';
import { withTransaction } from '../../db/pool.js';
import { bumpGeneration, getResource, type ResourceRow } from '../../db/resources.js';
import { markAnsweredAsync } from '../completion/completion.js';
import { budgetFor, configOf, type UseCaseDeps } from './deps.js';
import { pending, refused, type Outcome } from './outcome.js';

export async function changePlan(
  deps: UseCaseDeps,
  uuid: string,
  planName: string,
  requestId: string | undefined,
): Promise<Outcome> {
  const resource = await changeable(deps, uuid);
  const plan = findPlan(deps.catalog, planName);
  if (plan.name === resource.plan) return samePlan(deps, resource, plan.name, requestId);
  checkFits(deps, resource, plan);
  const operationId = randomUUID();
  const inserted = await insertChange(deps, uuid, plan.name, operationId, requestId);
  if (!inserted) return samePlan(deps, (await getResource(deps.pool, uuid))!, plan.name, requestId);
  return changeOutcome(deps, uuid, operationId, plan.name, resource.plan);
}

/** The resource, if its plan can change at all. */
async function changeable(deps: UseCaseDeps, uuid: string): Promise<ResourceRow> {
  const resource = await getResource(deps.pool, uuid);
  if (!resource) throw new NotFoundError('unknown_resource', `No add-on ${uuid} is known here.`);
  if (resource.state === 'deprovisioned' || resource.state === 'deprovisioning') {
    throw new GoneError(
      'deprovisioned',
      'This add-on has been deprovisioned; its plan cannot change.',
    );
  }
  if (resource.state === 'failed') {
    throw new UnprocessableError(
      'resource_failed',
      'This add-on failed to provision; remove it and create a new one.',
    );
  }
  return resource;
}

/** The new plan must be offered where the add-on runs, and runnable in its cluster. */
function checkFits(deps: UseCaseDeps, resource: ResourceRow, plan: Plan): void {
  const region = deps.catalog.regions.find((r) => r.name === resource.heroku_region);
  if (!region)
    throw new UnprocessableError(
      'unknown_region',
      `Region ${resource.heroku_region} is no longer offered.`,
    );
  const unsure = resource.private_space === null && !plan.privateSpaces;
  if (unsure && deps.catalog.regions.some((r) => r.value === region.value && r.privateSpace)) {
    throw new UnprocessableError(
      'plan_not_in_private_spaces',
      `Plan "${plan.name}" is not available in Private Spaces, and we cannot confirm this app is outside one. Choose a plan available in Private Spaces.`,
    );
  }
  const effective = resource.private_space ? { ...region, privateSpace: true } : region;
  const agent = placeIn(deps.catalog, plan, effective, null);
  const here = resource.agent_region;
  if (agent !== here && !(plan.agentRegions ?? [here]).includes(here)) {
    throw new UnprocessableError(
      'plan_cannot_be_placed',
      `Plan "${plan.name}" cannot run in the cluster that hosts this add-on (${here}).`,
    );
  }
}

/** Generation, operation and audit in one transaction; false when the plan is already set. */
async function insertChange(
  deps: UseCaseDeps,
  uuid: string,
  plan: string,
  operationId: string,
  requestId: string | undefined,
): Promise<boolean> {
  return withTransaction(deps.pool, async (client) => {
    const locked = (await getResource(client, uuid, true))!;
    if (locked.plan === plan) return false;
    const open = await openOperations(client, uuid);
    if (open.length > 0 && deps.conflictPolicy === 'reject') {
      throw new UnprocessableError(
        'operation_in_progress',
        'Another change to this add-on is in progress. Please retry in a few minutes.',
      );
    }
    const generation = await bumpGeneration(client, uuid, { plan });
    const params = { fromPlan: locked.plan };
    await insertOperation(client, {
      id: operationId,
      uuid,
      kind: 'change_plan',
      generation,
      plan,
      params,
    });
    await audit(client, {
      uuid,
      actor: 'heroku',
      action: 'plan_change_requested',
      requestId,
      detail: { from: locked.plan, to: plan, queuedBehind: open.length },
    });
    return true;
  });
}

/** Wait for a plan change within the budget: ready with config, refused, or pending. */
async function changeOutcome(
  deps: UseCaseDeps,
  uuid: string,
  operationId: string,
  plan: string,
  fromPlan: string,
): Promise<Outcome> {
  const op = await deps.waiter.wait(operationId, budgetFor(deps, plan));
  if (op?.state === 'succeeded') {
    const after = (await getResource(deps.pool, uuid))!;
    const config = configOf(deps.sealer, after);
    return { kind: 'ready', id: uuid, config, message: `Plan changed to ${plan}.` };
  }
  if (op?.state === 'failed') {
    return refused(
      'plan_change_failed',
      `The plan change to ${plan} failed: ${op.last_error?.message ?? 'unknown error'}. Your add-on still runs ${fromPlan}.`,
    );
  }
  return pending(deps, operationId, {
    id: uuid,
    message: `Changing plan to ${plan}; your app's config will update when it is done.`,
  });
}

/**
 * The plan is already the requested one: a 200 no-op, as Heroku's contract asks. When the
 * change to that plan is still running, this may be Heroku retrying a request whose answer
 * never arrived (a crash): the change is flagged for the async completion, so its config
 * still reaches Heroku when it finishes. When it finished without a 202 ever going out, no
 * PATCH is coming, and the request that should have carried the config may have died: the
 * 200 carries it, as the first answer would have.
 */
async function samePlan(
  deps: UseCaseDeps,
  resource: ResourceRow,
  plan: string,
  requestId: string | undefined,
): Promise<Outcome> {
  const op = await latestOperation(deps.pool, resource.uuid, 'change_plan');
  const ours = op?.plan === plan ? op : undefined;
  const running = ours?.state === 'pending' || ours?.state === 'dispatched';
  const unanswered = ours?.state === 'succeeded' && !ours.answer_async;
  if (running) await markAnsweredAsync(deps.pool, deps.sealer, ours.id, deps.asyncFailureAction);
  await audit(deps.pool, {
    uuid: resource.uuid,
    actor: 'heroku',
    action: 'plan_change_noop',
    requestId,
    detail: { plan, inProgress: running, withConfig: unanswered },
  });
  deps.log.info({ resourceId: resource.uuid, plan }, 'plan change to the current plan: no-op');
  const id = resource.uuid;
  if (unanswered)
    return {
      kind: 'ready',
      id,
      config: configOf(deps.sealer, resource),
      message: `Plan changed to ${plan}.`,
    };
  const message = running
    ? `The change to plan ${plan} is in progress; your app's config will update when it is done.`
    : `Already on plan ${plan}.`;
  return { kind: 'ready', id, message };
}
