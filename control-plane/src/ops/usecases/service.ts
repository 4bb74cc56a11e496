/**
 * The Heroku-facing use cases: provision, plan change, deprovision. Pure domain: no HTTP.
 * Answers follow architecture.md: replays return the first answer, same-plan changes are
 * logged no-ops, and a sync budget decides between 200-with-config and 202.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../../../shared/src/logger.js';
import {
  GoneError,
  NotFoundError,
  UnavailableError,
  UnprocessableError,
} from '../../../../shared/src/errors.js';
import type { Catalog } from '../../catalog/schema.js';
import {
  findPlan,
  place,
  placeIn,
  type Placement,
  type PrivateSpaceLookup,
} from '../../catalog/placement.js';
import type { Sealer } from '../../crypto.js';
import { audit } from '../../db/audit.js';
import { withTransaction, type Pool } from '../../db/pool.js';
import {
  getOperation,
  insertOperation,
  latestOperation,
  openOperations,
  type OperationRow,
} from '../../db/operations.js';
import {
  bumpGeneration,
  getResource,
  insertProvision,
  type ResourceRow,
} from '../../db/resources.js';
import { deleteTokens } from '../../db/tokens.js';
import type { OperationWaiter } from './waiter.js';
import { markAnsweredAsync, type AsyncFailureAction } from '../completion/completion.js';
import { answerAsync, type Answer } from './answer.js';

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

export type { Answer } from './answer.js';

export interface ServiceDeps {
  pool: Pool;
  catalog: Catalog;
  sealer: Sealer;
  waiter: OperationWaiter;
  log: Logger;
  /** Builds the Private Space lookup for one provision request. */
  privateSpaceLookup: (input: ProvisionInput) => PrivateSpaceLookup;
  syncBudgetOverrideMs?: number;
  hardBudgetMs: number;
  conflictPolicy: 'queue' | 'reject';
  enabledAgentRegions: Set<string> | null;
  asyncFailureAction: AsyncFailureAction;
}

export interface Service {
  provision(input: ProvisionInput, requestId?: string): Promise<Answer>;
  changePlan(uuid: string, plan: string, requestId?: string): Promise<Answer>;
  deprovision(uuid: string, requestId?: string): Promise<Answer>;
}

export function createService(deps: ServiceDeps): Service {
  const budgetFor = (plan: string): number =>
    deps.syncBudgetOverrideMs ?? findPlan(deps.catalog, plan).syncBudgetMs;

  function config(resource: ResourceRow): Record<string, string> | undefined {
    return resource.config_enc
      ? deps.sealer.openJson<Record<string, string>>(resource.config_enc)
      : undefined;
  }

  function regionLabel(r: ResourceRow): string {
    return r.private_space ? `the ${r.heroku_region} Private Space` : r.heroku_region;
  }

  /** Turn a (possibly finished) provision operation into Heroku's answer. */
  async function provisionAnswer(
    uuid: string,
    op: OperationRow | undefined,
    hasGrant: boolean,
  ): Promise<Answer> {
    const resource = (await getResource(deps.pool, uuid))!;
    if (op?.state === 'succeeded' || resource.state === 'provisioned') {
      return {
        status: 200,
        body: {
          id: uuid,
          config: config(resource),
          message: `Your add-on is ready in ${regionLabel(resource)}.`,
        },
      };
    }
    if (op?.state === 'failed' || resource.state === 'failed') {
      throw new UnprocessableError(
        'provision_failed',
        `We could not create this add-on: ${op?.last_error?.message ?? 'provisioning failed'}. Nothing was charged; please try again or contact support.`,
      );
    }
    if (!hasGrant || !op) {
      throw new UnavailableError(
        'provision_slow',
        'Your add-on is taking longer than usual to start. Please try again in a minute.',
      );
    }
    return answerAsync(deps, op.id, {
      id: uuid,
      message: `Your add-on is being created in ${regionLabel(resource)} and will be available shortly.`,
    });
  }

  /**
   * Placement that needed Heroku's word. A refusal is final, so tokens its lookup stored are
   * deleted; any other failure (503) keeps them for Heroku's retry of this provision.
   */
  async function placeAfterLookup(
    input: ProvisionInput,
    lookup: PrivateSpaceLookup,
  ): Promise<Placement> {
    try {
      return await place(deps.catalog, input, lookup, deps.enabledAgentRegions);
    } catch (err) {
      if (err instanceof UnprocessableError) await deleteTokens(deps.pool, input.uuid);
      throw err;
    }
  }

  /** Wait for a plan change within the budget; 200 with config, 422, or 202. */
  async function planChangeAnswer(
    uuid: string,
    opId: string,
    planName: string,
    fromPlan: string,
  ): Promise<Answer> {
    const op = await deps.waiter.wait(opId, budgetFor(planName));
    if (op?.state === 'succeeded') {
      const after = (await getResource(deps.pool, uuid))!;
      return {
        status: 200,
        body: { id: uuid, config: config(after), message: `Plan changed to ${planName}.` },
      };
    }
    if (op?.state === 'failed') {
      throw new UnprocessableError(
        'plan_change_failed',
        `The plan change to ${planName} failed: ${op.last_error?.message ?? 'unknown error'}. Your add-on still runs ${fromPlan}.`,
      );
    }
    return answerAsync(deps, opId, {
      id: uuid,
      message: `Changing plan to ${planName}; your app's config will update when it is done.`,
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
    resource: ResourceRow,
    planName: string,
    requestId?: string,
  ): Promise<Answer> {
    const op = await latestOperation(deps.pool, resource.uuid, 'change_plan');
    const ours = op?.plan === planName ? op : undefined;
    const running = ours?.state === 'pending' || ours?.state === 'dispatched';
    const unanswered = ours?.state === 'succeeded' && !ours.answer_async;
    if (running) await markAnsweredAsync(deps.pool, deps.sealer, ours.id, deps.asyncFailureAction);
    await audit(deps.pool, {
      uuid: resource.uuid,
      actor: 'heroku',
      action: 'plan_change_noop',
      requestId,
      detail: { plan: planName, inProgress: running, withConfig: unanswered },
    });
    deps.log.info(
      { resourceId: resource.uuid, plan: planName },
      'plan change to the current plan: no-op',
    );
    if (unanswered)
      return {
        status: 200,
        body: {
          id: resource.uuid,
          config: config(resource),
          message: `Plan changed to ${planName}.`,
        },
      };
    const message = running
      ? `The change to plan ${planName} is in progress; your app's config will update when it is done.`
      : `Already on plan ${planName}.`;
    return { status: 200, body: { id: resource.uuid, message } };
  }

  async function replay(existing: ResourceRow, hasGrant: boolean): Promise<Answer> {
    if (existing.state === 'deprovisioned' || existing.state === 'deprovisioning') {
      throw new GoneError('deprovisioned', 'This add-on has been deprovisioned.');
    }
    const op = await latestOperation(deps.pool, existing.uuid, 'provision');
    if (
      existing.state === 'provisioning' &&
      op &&
      (op.state === 'pending' || op.state === 'dispatched')
    ) {
      const waited = await deps.waiter.wait(
        op.id,
        hasGrant ? budgetFor(existing.plan) : deps.hardBudgetMs,
      );
      return provisionAnswer(existing.uuid, waited, hasGrant);
    }
    return provisionAnswer(existing.uuid, op, hasGrant);
  }

  return {
    async provision(input, requestId) {
      const hasGrant = Boolean(input.oauth_grant?.code);
      // Fast path: when placement needs no Heroku lookup, try the insert straight away and
      // treat "already exists" as a replay. Otherwise check for a replay before asking Heroku.
      let lookedUp = false;
      const lookup = deps.privateSpaceLookup(input);
      let placement = await place(
        deps.catalog,
        input,
        async () => {
          lookedUp = true;
          throw new NeedsLookup();
        },
        deps.enabledAgentRegions,
      ).catch((err: unknown) => {
        if (err instanceof NeedsLookup) return undefined;
        throw err;
      });
      if (!placement && lookedUp) {
        const existing = await getResource(deps.pool, input.uuid);
        if (existing) return replay(existing, hasGrant);
        placement = await placeAfterLookup(input, lookup);
      }
      if (!placement) throw new Error('placement failed without a reason');
      const opId = randomUUID();
      const created = await insertProvision(
        deps.pool,
        {
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
          oauthGrantEnc: input.oauth_grant?.code ? deps.sealer.seal(input.oauth_grant.code) : null,
          oauthGrantExpiresAt: input.oauth_grant?.expires_at ?? null,
        },
        { id: opId },
        {
          requestId: requestId ?? null,
          detail: {
            plan: placement.plan.name,
            region: placement.region.name,
            agentRegion: placement.agentRegion,
            privateSpace: placement.privateSpace,
          },
        },
        hasGrant, // not queued when a Private Space lookup already stored tokens
      );
      if (!created) return replay((await getResource(deps.pool, input.uuid))!, hasGrant);
      deps.log.info(
        { resourceId: input.uuid, plan: placement.plan.name, agentRegion: placement.agentRegion },
        'provision accepted',
      );
      const budget = hasGrant ? budgetFor(placement.plan.name) : deps.hardBudgetMs;
      const op =
        budget === 0 && hasGrant
          ? await getOperation(deps.pool, opId)
          : await deps.waiter.wait(opId, budget);
      return provisionAnswer(input.uuid, op, hasGrant);
    },

    async changePlan(uuid, planName, requestId) {
      const resource = await getResource(deps.pool, uuid);
      if (!resource)
        throw new NotFoundError('unknown_resource', `No add-on ${uuid} is known here.`);
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
      const plan = findPlan(deps.catalog, planName);
      if (plan.name === resource.plan) return samePlan(resource, plan.name, requestId);
      const region = deps.catalog.regions.find((r) => r.name === resource.heroku_region);
      if (!region)
        throw new UnprocessableError(
          'unknown_region',
          `Region ${resource.heroku_region} is no longer offered.`,
        );
      const spaceRegion =
        resource.private_space === null && !plan.privateSpaces
          ? deps.catalog.regions.find((r) => r.value === region.value && r.privateSpace)
          : undefined;
      if (spaceRegion) {
        throw new UnprocessableError(
          'plan_not_in_private_spaces',
          `Plan "${plan.name}" is not available in Private Spaces, and we cannot confirm this app is outside one. Choose a plan available in Private Spaces.`,
        );
      }
      const effective = resource.private_space ? { ...region, privateSpace: true } : region;
      const agent = placeIn(deps.catalog, plan, effective, null);
      if (
        agent !== resource.agent_region &&
        !(plan.agentRegions ?? [resource.agent_region]).includes(resource.agent_region)
      ) {
        throw new UnprocessableError(
          'plan_cannot_be_placed',
          `Plan "${plan.name}" cannot run in the cluster that hosts this add-on (${resource.agent_region}).`,
        );
      }
      const opId = randomUUID();
      const inserted = await withTransaction(deps.pool, async (client) => {
        const locked = (await getResource(client, uuid, true))!;
        if (locked.plan === plan.name) return false;
        const open = await openOperations(client, uuid);
        if (open.length > 0 && deps.conflictPolicy === 'reject') {
          throw new UnprocessableError(
            'operation_in_progress',
            'Another change to this add-on is in progress. Please retry in a few minutes.',
          );
        }
        const generation = await bumpGeneration(client, uuid, { plan: plan.name });
        await insertOperation(client, {
          id: opId,
          uuid,
          kind: 'change_plan',
          generation,
          plan: plan.name,
          params: { fromPlan: locked.plan },
        });
        await audit(client, {
          uuid,
          actor: 'heroku',
          action: 'plan_change_requested',
          requestId,
          detail: { from: locked.plan, to: plan.name, queuedBehind: open.length },
        });
        return true;
      });
      if (!inserted) return samePlan((await getResource(deps.pool, uuid))!, plan.name, requestId);
      return planChangeAnswer(uuid, opId, plan.name, resource.plan);
    },

    async deprovision(uuid, requestId) {
      await withTransaction(deps.pool, async (client) => {
        const resource = await getResource(client, uuid, true);
        if (
          !resource ||
          resource.state === 'deprovisioned' ||
          resource.state === 'deprovisioning'
        ) {
          await audit(client, {
            uuid: resource ? uuid : null,
            actor: 'heroku',
            action: 'deprovision_noop',
            requestId,
            detail: { uuid },
          });
          return;
        }
        const generation = await bumpGeneration(client, uuid, { state: 'deprovisioning' });
        await insertOperation(client, {
          id: randomUUID(),
          uuid,
          kind: 'deprovision',
          generation,
          plan: resource.plan,
        });
        await audit(client, { uuid, actor: 'heroku', action: 'deprovision_requested', requestId });
      });
      return { status: 204 };
    },
  };
}

class NeedsLookup extends Error {}

export function assertNever(x: never): never {
  throw new Error(`unexpected ${String(x)}`);
}

export { UnavailableError };
