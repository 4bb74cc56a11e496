/** POST/PUT/DELETE /heroku/resources: the Add-on Partner API (v3). */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { z } from 'zod';
import { InputError, NotFoundError } from '../../../shared/src/errors.js';
import type { Outcome } from '../ops/usecases/outcome.js';
import type { Service } from '../ops/usecases/service.js';
import { basicAuth } from './auth.js';
import { jsonDepth, MAX_JSON_DEPTH, PlanChangeBodySchema, ProvisionBodySchema } from './schemas.js';

const JSON_TYPES = ['json', 'application/vnd.heroku-addons+json'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function body<T>(ctx: Context, schema: z.ZodType<T>): T {
  if (!ctx.request.is(JSON_TYPES))
    throw new InputError(
      'unsupported_media_type',
      'Send a JSON body (Content-Type: application/json).',
    );
  const raw = (ctx.request as unknown as { body?: unknown }).body;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new InputError('invalid_body', 'The request body must be a JSON object.');
  if (jsonDepth(raw) > MAX_JSON_DEPTH)
    throw new InputError(
      'invalid_body',
      `The request body is nested too deeply (max ${MAX_JSON_DEPTH}).`,
    );
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || 'body'}: ${i.message}`);
    throw new InputError('invalid_body', `Invalid request: ${issues.join('; ')}`);
  }
  return parsed.data;
}

/** The one place a use case's outcome becomes Heroku's answer. */
function send(ctx: Context, outcome: Outcome): void {
  switch (outcome.kind) {
    case 'ready':
      ctx.status = 200;
      ctx.body = { id: outcome.id, config: outcome.config, message: outcome.message };
      return;
    case 'pending':
      ctx.status = 202;
      ctx.body = { id: outcome.id, message: outcome.message };
      return;
    case 'removed':
      ctx.status = 204;
      return;
    case 'refused':
      ctx.status = 422;
      ctx.body = { message: outcome.message, code: outcome.code };
  }
}

export function herokuRoutes(service: Service, auth: { id: string; password: string }): Router {
  const router = new Router({ prefix: '/heroku/resources' });
  router.use(basicAuth(auth.id, auth.password));

  router.post('/', async (ctx) => {
    const input = body(ctx, ProvisionBodySchema);
    send(
      ctx,
      await service.provision(
        { ...input, name: input.name ?? input.uuid },
        ctx.state.requestId as string,
      ),
    );
  });

  router.put('/:id', async (ctx) => {
    const { plan } = body(ctx, PlanChangeBodySchema);
    const id = ctx.params.id!;
    if (!UUID.test(id))
      throw new NotFoundError('unknown_resource', `No add-on ${id} is known here.`);
    send(ctx, await service.changePlan(id.toLowerCase(), plan, ctx.state.requestId as string));
  });

  router.delete('/:id', async (ctx) => {
    const id = ctx.params.id!;
    if (!UUID.test(id)) return send(ctx, { kind: 'removed' });
    send(ctx, await service.deprovision(id.toLowerCase(), ctx.state.requestId as string));
  });

  return router;
}
