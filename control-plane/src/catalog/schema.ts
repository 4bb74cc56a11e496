import { z } from 'zod';
import { EngineSchema, SizeSchema } from '../../../shared/src/messages.js';

const REGION_VALUE = /^[a-z0-9-]+::[a-z0-9-]+$/;
const SLUG = /^[a-z][a-z0-9-]*$/;

export const AgentRegionSchema = z.object({
  name: z.string().regex(SLUG),
  description: z.string().optional(),
});

export const RegionSchema = z.object({
  /** The `region` value Heroku sends, e.g. `amazon-web-services::eu-central-1`. */
  value: z.string().regex(REGION_VALUE),
  /** Heroku region name as in the manifest's api.regions (`us`, `frankfurt`). */
  name: z.string().regex(SLUG),
  privateSpace: z.boolean(),
  /** The nearest agent region, then fallbacks in order of preference. */
  agentRegion: z.string().regex(SLUG),
  fallbackAgentRegions: z.array(z.string().regex(SLUG)).default([]),
});

export const PlanSchema = z.object({
  name: z.string().regex(SLUG),
  description: z.string().optional(),
  engine: EngineSchema,
  size: SizeSchema,
  /** Partner Portal feature "Available in Private Spaces?". */
  privateSpaces: z.boolean(),
  /** Heroku region names this plan may be provisioned in. */
  regions: z.array(z.string().regex(SLUG)).min(1),
  /** Agent regions able to host this plan (default: any). */
  agentRegions: z.array(z.string().regex(SLUG)).optional(),
  /** How long provision/plan change may wait for the agent before answering 202 (≤ 2000). */
  syncBudgetMs: z.number().int().min(0).max(2000).default(2000),
});

export const CatalogSchema = z
  .object({
    agentRegions: z.array(AgentRegionSchema).min(1),
    regions: z.array(RegionSchema).min(1),
    plans: z.array(PlanSchema).min(1),
  })
  .superRefine((catalog, ctx) => {
    const agents = new Set(catalog.agentRegions.map((a) => a.name));
    const names = new Set<string>();
    catalog.regions.forEach((region, i) => {
      if (names.has(region.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['regions', i, 'name'],
          message: `duplicate region name ${region.name}`,
        });
      }
      names.add(region.name);
      for (const agent of [region.agentRegion, ...region.fallbackAgentRegions]) {
        if (!agents.has(agent)) {
          ctx.addIssue({
            code: 'custom',
            path: ['regions', i],
            message: `unknown agent region ${agent}`,
          });
        }
      }
    });
    const plans = new Set<string>();
    catalog.plans.forEach((plan, i) => {
      if (plans.has(plan.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['plans', i, 'name'],
          message: `duplicate plan ${plan.name}`,
        });
      }
      plans.add(plan.name);
      for (const r of plan.regions) {
        if (!names.has(r)) {
          ctx.addIssue({
            code: 'custom',
            path: ['plans', i, 'regions'],
            message: `unknown region ${r}`,
          });
        }
      }
      for (const a of plan.agentRegions ?? []) {
        if (!agents.has(a)) {
          ctx.addIssue({
            code: 'custom',
            path: ['plans', i, 'agentRegions'],
            message: `unknown agent region ${a}`,
          });
        }
      }
    });
  });

export type AgentRegion = z.infer<typeof AgentRegionSchema>;
export type Region = z.infer<typeof RegionSchema>;
export type Plan = z.infer<typeof PlanSchema>;
export type Catalog = z.infer<typeof CatalogSchema>;
