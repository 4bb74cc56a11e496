/** Helpers for the deployables' `loadConfig(env)` functions. */
import { z } from 'zod';

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parse env with a schema, failing with every problem listed at once. */
export function parseEnv<T extends z.ZodType>(schema: T, env: Env, what: string): z.infer<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (issue) => `  - ${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new ConfigError(`invalid ${what} configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** An env flag: "true"/"false"/"1"/"0"/"yes"/"no"; never z.coerce.boolean(). */
export const envFlag = (defaultValue: boolean): z.ZodType<boolean> =>
  z
    .stringbool()
    .optional()
    .transform((v) => v ?? defaultValue) as unknown as z.ZodType<boolean>;

export const envInt = (defaultValue: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(defaultValue);
