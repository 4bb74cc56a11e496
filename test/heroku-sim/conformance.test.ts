import { runConformance, type ConformanceOptions } from './conformance.js';
import { startFakePartner, type FakePartner, type FakePartnerOptions } from './fake-partner.js';
import { createHerokuSim } from './sim.js';
import { DEV_ADDON } from '../support/control-plane.js';

const creds = DEV_ADDON;
const checklist: ConformanceOptions = {
  ...creds,
  plan: 'standard',
  otherPlan: 'premium',
  region: 'amazon-web-services::us-east-1',
};

async function withPartner(
  faults: FakePartnerOptions['faults'],
  fn: (p: FakePartner) => Promise<void>,
): Promise<void> {
  const partner = await startFakePartner({ ...creds, plans: ['standard', 'premium'], faults });
  try {
    await fn(partner);
  } finally {
    await partner.close();
  }
}

describe('runConformance', () => {
  it('passes every item for a well-behaved partner', async () => {
    await withPartner({}, async (p) => {
      const results = await runConformance(p.url, checklist);
      expect(results.filter((r) => !r.pass)).toEqual([]);
      expect(results.map((r) => r.item)).toEqual([
        'provision answers 2xx with an id',
        'provision response is valid JSON',
        'wrong credentials → 401 on POST',
        'wrong credentials → 401 on PUT',
        'wrong credentials → 401 on DELETE',
        'provision replay (same uuid) returns the same id',
        'unknown fields in the provision body are tolerated',
        'plan change answers 2xx',
        'plan change to the current plan is a 200 no-op',
        'unknown plan → 422 with a message',
        'malformed JSON → 4xx',
        'config keys all start with TLSREDIS_',
        'deprovision answers 2xx (204 accepted)',
        'repeated deprovision answers 2xx',
      ]);
    });
  });

  it('reports the items a misbehaving partner fails', async () => {
    await withPartner(
      { acceptAnyAuth: true, unprefixedConfig: true, deleteTwiceFails: true },
      async (p) => {
        const failed = (await runConformance(`${p.url}/heroku/resources`, checklist))
          .filter((r) => !r.pass)
          .map((r) => r.item);
        expect(failed).toEqual([
          'wrong credentials → 401 on POST',
          'wrong credentials → 401 on PUT',
          'wrong credentials → 401 on DELETE',
          'config keys all start with TLSREDIS_',
          'repeated deprovision answers 2xx',
        ]);
      },
    );
  });

  it('drives the partner through a shared simulator and records Heroku-side state', async () => {
    const sim = await createHerokuSim();
    try {
      await withPartner({}, async (p) => {
        const body = sim.createAddon({ plan: 'standard', region: 'us' });
        const res = await sim.provision(p.url, body, creds);
        expect(res).toEqual({
          status: 200,
          body: { id: body.uuid, config: { TLSREDIS_URL: `rediss://${body.uuid}.example:6380` } },
        });
        expect(sim.addon(body.uuid)).toMatchObject({ state: 'provisioned', providerId: body.uuid });
        expect((await sim.changePlan(p.url, body.uuid, 'premium', creds)).status).toBe(200);
        expect(sim.addon(body.uuid)?.plan).toBe('premium');
        expect((await sim.deprovision(p.url, body.uuid, { ...creds, password: 'x' })).status).toBe(
          401,
        );
        const tokens = await fetch(
          `${sim.url}/oauth/token?grant_type=authorization_code&code=${body.oauth_grant.code}&client_secret=dev-oauth-client-secret`,
          { method: 'POST' },
        );
        const { access_token } = (await tokens.json()) as { access_token: string };
        const getAddon = (): Promise<Response> =>
          fetch(`${sim.url}/addons/${body.uuid}`, {
            headers: {
              Authorization: `Bearer ${access_token}`,
              Accept: 'application/vnd.heroku+json; version=3',
            },
          });
        expect((await getAddon()).status).toBe(200);
        expect((await sim.deprovision(p.url, body.uuid, creds)).status).toBe(204);
        expect(sim.addon(body.uuid)?.state).toBe('deprovisioned');
        // The partner authorization goes away with the add-on (§6.1).
        expect((await getAddon()).status).toBe(401);
        expect(sim.calls.map((c) => `${c.path} ${c.status}`)).toEqual([
          '/oauth/token 200',
          `/addons/${body.uuid} 200`,
          `/addons/${body.uuid} 401`,
        ]);
      });
    } finally {
      await sim.close();
    }
  });

  it('leaves a 202 provision in `provisioning` until the partner completes it through the Platform API', async () => {
    const sim = await createHerokuSim();
    const partner = await startFakePartner({ ...creds, plans: ['standard'], async: true });
    try {
      const body = sim.createAddon({ plan: 'standard', region: 'us' });
      expect(await sim.provision(partner.url, body, creds)).toEqual({
        status: 202,
        body: { id: body.uuid, message: 'creating' },
      });
      expect(sim.addon(body.uuid)).toMatchObject({ state: 'provisioning', providerId: body.uuid });
      const tokens = await fetch(`${sim.url}/oauth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: body.oauth_grant.code,
          client_secret: 'dev-oauth-client-secret',
        }),
      });
      const { access_token } = (await tokens.json()) as { access_token: string };
      const headers = {
        Authorization: `Bearer ${access_token}`,
        Accept: 'application/vnd.heroku+json; version=3',
        'Content-Type': 'application/json',
      };
      const patch = await fetch(`${body.callback_url}/config`, {
        method: 'PATCH',
        headers,
        body: JSON.stringify({ config: [{ name: 'TLSREDIS_URL', value: 'rediss://x' }] }),
      });
      expect(patch.status).toBe(200);
      const done = await fetch(`${body.callback_url}/actions/provision`, {
        method: 'POST',
        headers,
      });
      expect(await done.json()).toMatchObject({
        state: 'provisioned',
        config_vars: ['TLSREDIS_URL'],
        provider_id: body.uuid,
      });
      expect(sim.provisionActionCount(body.uuid)).toBe(1);
    } finally {
      await partner.close();
      await sim.close();
    }
  });
});
