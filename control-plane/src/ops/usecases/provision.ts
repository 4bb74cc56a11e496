/**
 * Provision, as a line: validate and place → (only when placement needs it: replay check,
 * Private Space lookup) → one insert → wait within the plan's budget → outcome.
 *
 * Replays return the first answer from durable state: ready with config once finished,
 * refused once failed, pending (202) while it runs and Heroku gave a grant to finish it with.
 */
import { randomUUID } from 'node:crypto';
import { GoneError, UnavailableError, UnprocessableError } from '../../../../shared/src/errors.js';
import { decidePlacement, type Placement } from '../../catalog/placement.js';
import { latestOperation, type OperationRow } from '../../db/operations.js';
import {
  getResource,
  insertProvision,
  type NewResource,
  type ResourceRow,
} from '../../db/resources.js';
import { deleteTokens } from '../../db/tokens.js';
import { regionLabel } from '../completion/completion.js';
import { budgetFor, configOf, type UseCaseDeps } from './deps.js';
import { pending, refused, type Outcome } from './outcome.js';

export interface ProvisionInput {
  uuid: string;
  name: string;
  plan: string;
  region: string;
  callback_url?: string;
  options?: Record<string, string>;
  oauth_grant?: { code: string; expires_at: string; type: string } | null;
  log_input_url?: string;
}

export async function provision(
  deps: UseCaseDeps,
  input: ProvisionInput,
  requestId: string | undefined,
): Promise<Outcome> {
  const hasGrant = Boolean(input.oauth_grant?.code);
  const decision = decidePlacement(deps.catalog, input, deps.enabledAgentRegions);
  let placement: Placement;
  let tokensStored = false;
  if (decision.kind === 'placed') {
    // No Heroku call needed: insert straight away; "already exists" means a replay.
    placement = decision.placement;
  } else {
    // Heroku is asked only about a new add-on: a replay answers from what is stored.
    const existing = await getResource(deps.pool, input.uuid);
    if (existing) return replay(deps, existing, hasGrant);
    ({ placement, tokensStored } = await placeAfterLookup(deps, input, decision.placeWith));
  }
  const operationId = randomUUID();
  const created = await insertProvision(deps.pool, {
    resource: newResource(deps, input, placement),
    operationId,
    requestId: requestId ?? null,
    auditDetail: {
      plan: placement.plan.name,
      region: placement.region.name,
      agentRegion: placement.agentRegion,
      privateSpace: placement.privateSpace,
    },
    exchangeGrant: hasGrant && !tokensStored,
  });
  if (!created) return replay(deps, (await getResource(deps.pool, input.uuid))!, hasGrant);
  deps.log.info(
    { resourceId: input.uuid, plan: placement.plan.name, agentRegion: placement.agentRegion },
    'provision accepted',
  );
  const budget = hasGrant ? budgetFor(deps, placement.plan.name) : deps.hardBudgetMs;
  const op = await deps.waiter.wait(operationId, budget);
  return provisionOutcome(deps, (await getResource(deps.pool, input.uuid))!, op, hasGrant);
}

function newResource(deps: UseCaseDeps, input: ProvisionInput, placement: Placement): NewResource {
  const grant = input.oauth_grant?.code;
  return {
    uuid: input.uuid,
    name: input.name,
    plan: placement.plan.name,
    regionValue: input.region,
    herokuRegion: placement.region.name,
    privateSpace: placement.privateSpace,
    agentRegion: placement.agentRegion,
    callbackUrl: input.callback_url ?? null,
    logInputUrlEnc: input.log_input_url ? deps.sealer.seal(input.log_input_url) : null,
    options: input.options ?? {},
    oauthGrantEnc: grant ? deps.sealer.seal(grant) : null,
    oauthGrantExpiresAt: input.oauth_grant?.expires_at ?? null,
  };
}

/**
 * Placement that needed Heroku's word. A refusal is final, so tokens the lookup stored are
 * deleted; any other failure (503) keeps them for Heroku's retry of this provision.
 */
async function placeAfterLookup(
  deps: UseCaseDeps,
  input: ProvisionInput,
  placeWith: (privateSpace: boolean) => Placement,
): Promise<{ placement: Placement; tokensStored: boolean }> {
  const answer = await deps.privateSpaceLookup({
    uuid: input.uuid,
    grantCode: input.oauth_grant?.code,
  });
  try {
    return { placement: placeWith(answer.privateSpace), tokensStored: answer.tokensStored };
  } catch (err) {
    if (err instanceof UnprocessableError && answer.tokensStored)
      await deleteTokens(deps.pool, input.uuid);
    throw err;
  }
}

async function replay(
  deps: UseCaseDeps,
  existing: ResourceRow,
  hasGrant: boolean,
): Promise<Outcome> {
  if (existing.state === 'deprovisioned' || existing.state === 'deprovisioning') {
    throw new GoneError('deprovisioned', 'This add-on has been deprovisioned.');
  }
  const op = await latestOperation(deps.pool, existing.uuid, 'provision');
  const running = op?.state === 'pending' || op?.state === 'dispatched';
  if (existing.state !== 'provisioning' || !running)
    return provisionOutcome(deps, existing, op, hasGrant);
  const budget = hasGrant ? budgetFor(deps, existing.plan) : deps.hardBudgetMs;
  const waited = await deps.waiter.wait(op.id, budget);
  return provisionOutcome(deps, (await getResource(deps.pool, existing.uuid))!, waited, hasGrant);
}

/** A (possibly finished) provision operation as Heroku's answer. */
async function provisionOutcome(
  deps: UseCaseDeps,
  resource: ResourceRow,
  op: OperationRow | undefined,
  hasGrant: boolean,
): Promise<Outcome> {
  const id = resource.uuid;
  if (op?.state === 'succeeded' || resource.state === 'provisioned') {
    const message = `Your add-on is ready in ${regionLabel(resource)}.`;
    return { kind: 'ready', id, config: configOf(deps.sealer, resource), message };
  }
  if (op?.state === 'failed' || resource.state === 'failed') {
    const reason = op?.last_error?.message ?? 'provisioning failed';
    return refused(
      'provision_failed',
      `We could not create this add-on: ${reason}. Nothing was charged; please try again or contact support.`,
    );
  }
  if (!hasGrant || !op) {
    throw new UnavailableError(
      'provision_slow',
      'Your add-on is taking longer than usual to start. Please try again in a minute.',
    );
  }
  return pending(deps, op.id, {
    id,
    message: `Your add-on is being created in ${regionLabel(resource)} and will be available shortly.`,
  });
}
