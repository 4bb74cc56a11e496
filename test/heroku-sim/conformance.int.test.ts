/** The conformance checklist against the real control plane, which calls this simulator back. */
import { DEV_ADDON, startStack, type TestStack } from '../support/control-plane.js';
import { startFakeAgent, type FakeAgent } from '../support/fake-agent.js';
import { runConformance } from './conformance.js';
import { createHerokuSim, type HerokuSim } from './sim.js';

let sim: HerokuSim;
let stack: TestStack;
let agents: FakeAgent[];

beforeAll(async () => {
  sim = await createHerokuSim({ clientSecret: 'conformance-secret' });
  stack = await startStack({
    HEROKU_API_URL: sim.url,
    HEROKU_ID_URL: sim.url,
    OAUTH_CLIENT_SECRET: 'conformance-secret',
  });
  agents = await Promise.all(
    ['us-east', 'eu-west'].map((region) =>
      startFakeAgent(stack.nats.url, { region, delayMs: () => 50 }),
    ),
  );
});

afterAll(async () => {
  await Promise.all((agents ?? []).map((a) => a.stop()));
  await stack?.stop();
  await sim?.close();
});

it('the control plane passes the v3 conformance checklist', async () => {
  const results = await runConformance(stack.url, {
    ...DEV_ADDON,
    plan: 'standard',
    otherPlan: 'premium',
    region: 'amazon-web-services::us-east-1',
    sim,
  });
  expect(results.filter((r) => !r.pass)).toEqual([]);
  expect(results).toHaveLength(14);
});
