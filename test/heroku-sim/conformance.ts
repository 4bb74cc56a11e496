/** A v3 conformance checklist (kensa's checks, §3–§6) run against any control-plane URL. */
import { randomUUID } from 'node:crypto';
import { baseUrl, sendToCp } from './driver.js';
import { createHerokuSim, type HerokuSim } from './sim.js';
import type { BasicAuth, CpResponse } from './types.js';

export interface ConformanceOptions {
  id: string;
  password: string;
  plan: string;
  region: string;
  otherPlan: string;
  /** Env-style config prefix; defaults to the manifest id upper-cased (`tlsredis` → `TLSREDIS`). */
  configPrefix?: string;
  /** The simulator the control plane calls back (HEROKU_API_URL); a private one is started otherwise. */
  sim?: HerokuSim;
}

export interface ConformanceResult {
  item: string;
  pass: boolean;
  detail: string;
}

type Check = () => Promise<string | undefined | void>;

const is2xx = (s: number): boolean => s >= 200 && s < 300;

function idOf(res: CpResponse): string | undefined {
  const b = res.body as { id?: unknown } | undefined;
  return b && typeof b.id === 'string' && b.id !== '' ? b.id : undefined;
}

function describe(res: CpResponse): string {
  return `status ${res.status}, body ${JSON.stringify(res.body)?.slice(0, 200)}`;
}

class Failed extends Error {}
function expect(ok: boolean, detail: string): void {
  if (!ok) throw new Failed(detail);
}

export async function runConformance(
  cpUrl: string,
  opts: ConformanceOptions,
): Promise<ConformanceResult[]> {
  const sim = opts.sim ?? (await createHerokuSim());
  const auth: BasicAuth = { id: opts.id, password: opts.password };
  const wrong: BasicAuth = { id: 'wrong', password: 'secret' };
  const prefix = opts.configPrefix ?? opts.id.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  const base = baseUrl(cpUrl);
  const results: ConformanceResult[] = [];
  const run = async (item: string, check: Check): Promise<void> => {
    try {
      const detail = await check();
      results.push({ item, pass: true, detail: detail ?? 'ok' });
    } catch (err) {
      results.push({ item, pass: false, detail: err instanceof Error ? err.message : String(err) });
    }
  };

  const a = sim.createAddon({ plan: opts.plan, region: opts.region });
  let first: CpResponse | undefined;
  const configs: Record<string, string>[] = [];
  const collect = (res: CpResponse): void => {
    const c = (res.body as { config?: unknown } | undefined)?.config;
    if (c && typeof c === 'object') configs.push(c as Record<string, string>);
  };

  try {
    await run('provision answers 2xx with an id', async () => {
      first = await sim.provision(cpUrl, a, auth);
      collect(first);
      expect(is2xx(first.status) && idOf(first) !== undefined, describe(first));
      return `status ${first.status}, id ${idOf(first)}`;
    });
    await run('provision response is valid JSON', async () => {
      const res = await sendToCp('POST', base, auth, a);
      expect(res.json, `body is not JSON: ${res.text.slice(0, 200)}`);
    });
    for (const [method, url, body] of [
      ['POST', base, sim.createAddon({ plan: opts.plan, region: opts.region })],
      ['PUT', `${base}/${a.uuid}`, { plan: opts.otherPlan }],
      ['DELETE', `${base}/${a.uuid}`, undefined],
    ] as const) {
      await run(`wrong credentials → 401 on ${method}`, async () => {
        const res = await sendToCp(method, url, wrong, body);
        expect(res.status === 401, describe(res));
      });
    }
    await run('provision replay (same uuid) returns the same id', async () => {
      const res = await sim.provision(cpUrl, a, auth);
      expect(
        is2xx(res.status) && first !== undefined && idOf(res) === idOf(first),
        `first id ${first && idOf(first)}, replay ${describe(res)}`,
      );
    });
    const b = sim.createAddon({ plan: opts.plan, region: opts.region });
    await run('unknown fields in the provision body are tolerated', async () => {
      const res = await sim.provision(
        cpUrl,
        { ...b, some_future_field: { nested: true }, log_drain_token: `d.${randomUUID()}` },
        auth,
      );
      collect(res);
      expect(is2xx(res.status), describe(res));
    });
    await run('plan change answers 2xx', async () => {
      const res = await sim.changePlan(cpUrl, a.uuid, opts.otherPlan, auth);
      collect(res);
      expect(is2xx(res.status), describe(res));
      return `status ${res.status}`;
    });
    await run('plan change to the current plan is a 200 no-op', async () => {
      const res = await sim.changePlan(cpUrl, a.uuid, opts.otherPlan, auth);
      expect(res.status === 200, describe(res));
    });
    await run('unknown plan → 422 with a message', async () => {
      const res = await sim.provision(
        cpUrl,
        sim.createAddon({ plan: `no-such-plan-${randomUUID().slice(0, 8)}`, region: opts.region }),
        auth,
      );
      const message = (res.body as { message?: unknown } | undefined)?.message;
      expect(res.status === 422 && typeof message === 'string' && message !== '', describe(res));
    });
    await run('malformed JSON → 4xx', async () => {
      const res = await sendToCp('POST', base, auth, undefined, {
        rawBody: '{"uuid": "x", "plan":',
      });
      expect(res.status >= 400 && res.status < 500, describe(res));
    });
    await run(`config keys all start with ${prefix}_`, async () => {
      const patched = sim.calls
        .filter((c) => c.method === 'PATCH' && /\/config$/.test(c.path))
        .flatMap((c) =>
          ((c.body as { config?: Array<{ name: string }> } | undefined)?.config ?? []).map(
            (e) => e.name,
          ),
        );
      const keys = [...configs.flatMap((c) => Object.keys(c)), ...patched];
      const bad = keys.filter((k) => !k.startsWith(`${prefix}_`));
      expect(bad.length === 0, `unprefixed keys: ${bad.join(', ')}`);
      return keys.length === 0
        ? 'no config seen yet (async provisioning?)'
        : `${new Set(keys).size} keys checked`;
    });
    await run('deprovision answers 2xx (204 accepted)', async () => {
      const res = await sim.deprovision(cpUrl, a.uuid, auth);
      expect(is2xx(res.status), describe(res));
      return `status ${res.status}`;
    });
    await run('repeated deprovision answers 2xx', async () => {
      const res = await sim.deprovision(cpUrl, a.uuid, auth);
      expect(is2xx(res.status), describe(res));
      return `status ${res.status}`;
    });
    await sim.deprovision(cpUrl, b.uuid, auth).catch(() => undefined);
  } finally {
    if (!opts.sim) await sim.close();
  }
  return results;
}
