/**
 * Provision, as a line: validate and place → (only when placement needs it: replay check,
 * Private Space lookup) → one insert → wait within the plan's budget → outcome.
 *
 * Replays return the first answer from durable state: ready with config once finished,
 * refused once failed, pending (202) while it runs and Heroku gave a grant to finish it with.
 */
import { randomUUID } from 'node:crypto';
import { GoneError, UnavailableError, UnprocessableError } from '../../../../shared/src/errors.js';
import { decidePlacement, liveAgentRegion, type Placement } from '../../catalog/placement.js';
import { latestOperation, type OperationRow } from '../../db/operations.js';
import {
  getResource,
  insertProvision,
  type NewResource,
  type ResourceRow,
} from '../../db/resources.js';
import { deleteTokens } from '../../db/tokens.js';
import { regionLabel, STARTED_LINE } from '../completion/completion.js';
import { budgetFor, configOf, type UseCaseDeps } from './deps.js';
import { pending, pendingFlaggedAtInsert, refused, type Outcome } from './outcome.js';

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
  const placed = await place(deps, input, hasGrant);
  if ('replay' in placed) return placed.replay;
  const placement = avoidDownRegions(deps, placed.placement, input.uuid);
  const budget = hasGrant ? budgetFor(deps, placement.plan.name) : deps.hardBudgetMs;
  // No wait at all: the 202 is known now, so its flag is written by the accepting insert.
  const answerNow = hasGrant && budget === 0;
  const operationId = randomUUID();
  const inserted = await insertProvision(deps.pool, {
    resource: newResource(deps, input, placement),
    operationId,
    requestId: requestId ?? null,
    auditDetail: {
      plan: placement.plan.name,
      region: placement.region.name,
      agentRegion: placement.agentRegion,
      privateSpace: placement.privateSpace,
    },
    exchangeGrant: hasGrant && !placed.tokensStored,
    answerAsync: answerNow,
    startedLogEnc:
      answerNow && input.log_input_url ? deps.sealer.sealJson({ message: STARTED_LINE }) : null,
  });
  if (!inserted.created) return replay(deps, (await getResource(deps.pool, input.uuid))!, hasGrant);
  deps.wake();
  deps.log.info(
    { resourceId: input.uuid, plan: placement.plan.name, agentRegion: placement.agentRegion },
    'provision accepted',
  );
  if (inserted.asyncFlag) {
    const where = regionLabel({
      heroku_region: placement.region.name,
      private_space: placement.privateSpace,
    });
    return pendingFlaggedAtInsert(inserted.asyncFlag, {
      id: input.uuid,
      message: `Your add-on is being created in ${where} and will be available shortly.`,
    });
  }
  const op = await deps.waiter.wait(operationId, budget);
  return provisionOutcome(deps, (await getResource(deps.pool, input.uuid))!, op, hasGrant);
}

/**
 * Where the add-on goes. When placement needs Heroku's word on the app (a Private Space
 * lookup), an add-on that already exists is a replay and answers from what is stored.
 */
async function place(
  deps: UseCaseDeps,
  input: ProvisionInput,
  hasGrant: boolean,
): Promise<{ placement: Placement; tokensStored: boolean } | { replay: Outcome }> {
  const decision = decidePlacement(deps.catalog, input, deps.enabledAgentRegions);
  // No Heroku call needed: insert straight away; "already exists" means a replay.
  if (decision.kind === 'placed') return { placement: decision.placement, tokensStored: false };
  const existing = await getResource(deps.pool, input.uuid);
  if (existing) return { replay: await replay(deps, existing, hasGrant) };
  return placeAfterLookup(deps, input, decision.placeWith);
}

/** A new provision goes to a live agent region when its own is down and a fallback is allowed. */
function avoidDownRegions(deps: UseCaseDeps, placement: Placement, uuid: string): Placement {
  const agentRegion = liveAgentRegion(placement, deps.enabledAgentRegions, deps.downAgentRegions());
  if (agentRegion === placement.agentRegion) return placement;
  deps.log.warn(
    { resourceId: uuid, down: placement.agentRegion, agentRegion },
    'agent region down: provision placed in a live fallback region',
  );
  return { ...placement, agentRegion };
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
  if (existing.state !== 'provisioning') return provisionOutcome(deps, existing, op, hasGrant);
  // `existing` was read before the operation: a result committed in between finished the
  // operation and wrote the config in one transaction, so read the resource again after it.
  if (!running)
    return provisionOutcome(deps, (await getResource(deps.pool, existing.uuid))!, op, hasGrant);
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
