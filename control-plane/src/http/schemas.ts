/** Inbound Heroku payloads. Unknown fields are tolerated (the contract says so). */
import { z } from 'zod';

const str = (max: number) => z.string().min(1).max(max);

export const ProvisionBodySchema = z.looseObject({
  uuid: z.uuid(),
  name: str(256).optional(),
  plan: str(100),
  region: str(200),
  callback_url: z.url().max(2048).optional(),
  options: z
    .record(
      z.string().max(256),
      z.union([z.string().max(4096), z.number(), z.boolean()]).transform(String),
    )
    .optional(),
  oauth_grant: z
    .looseObject({ code: str(512), expires_at: str(64), type: str(64) })
    .nullable()
    .optional(),
  log_input_url: z.url().max(2048).optional(),
  log_drain_token: z.string().max(512).optional(),
});

export const PlanChangeBodySchema = z.looseObject({ plan: str(100) });

export const MAX_JSON_DEPTH = 16;

export function jsonDepth(value: unknown, depth = 0): number {
  if (depth > MAX_JSON_DEPTH) return depth;
  if (value === null || typeof value !== 'object') return depth;
  let max = depth + 1;
  for (const v of Object.values(value as Record<string, unknown>))
    max = Math.max(max, jsonDepth(v, depth + 1));
  return max;
}
