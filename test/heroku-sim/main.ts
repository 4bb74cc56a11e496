/**
 * CLI: `npm run heroku-sim -- serve [--port N] [--state-file F] [--sso-url U]`
 *      `npm run heroku-sim -- sso <uuid> [--email E]`
 *      `npm run heroku-sim -- conformance [--url http://127.0.0.1:5000] [--plan standard --other-plan premium
 *        --region amazon-web-services::us-east-1 --id tlsredis --password … --sim-port N]`
 * `sso` and conformance's default `--url` use the stack `npm start` runs (.local/stack.json).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runConformance } from './conformance.js';
import { createHerokuSim } from './sim.js';
import { withLocalStack } from '../../shared/src/local-stack.js';

interface Manifest {
  id?: string;
  api?: { password?: string; sso_salt?: string };
}

function readManifest(): Manifest {
  try {
    return JSON.parse(
      readFileSync(new URL('../../addon-manifest.json', import.meta.url), 'utf8'),
    ) as Manifest;
  } catch {
    return {};
  }
}

function portOf(value: string | undefined): number {
  const port = Number(value ?? '0');
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`bad port ${JSON.stringify(value)}`);
  return port;
}

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'client-secret': { type: 'string' },
      'state-file': { type: 'string' },
      'sso-url': { type: 'string' },
    },
  });
  const salt = readManifest().api?.sso_salt;
  const sim = await createHerokuSim({
    port: portOf(values.port),
    host: values.host ?? '127.0.0.1',
    clientSecret: values['client-secret'],
    stateFile: values['state-file'],
    sso: values['sso-url'] && salt ? { url: values['sso-url'], salt } : undefined,
  });
  console.log(`heroku-sim listening on ${sim.url}`);
  console.log(`  give the control plane HEROKU_API_URL=${sim.url} HEROKU_ID_URL=${sim.url}`);
  if (values['sso-url']) console.log(`  open a dashboard: ${sim.url}/sso/<uuid>`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(1);
    stopping = true;
    void sim.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

async function conformance(args: string[]): Promise<number> {
  const manifest = readManifest();
  const { values } = parseArgs({
    args,
    options: {
      url: { type: 'string', default: withLocalStack(process.env).env.CONTROL_PLANE_URL },
      plan: { type: 'string', default: 'standard' },
      'other-plan': { type: 'string', default: 'premium' },
      region: { type: 'string', default: 'amazon-web-services::us-east-1' },
      id: { type: 'string', default: manifest.id ?? 'tlsredis' },
      password: { type: 'string', default: manifest.api?.password ?? '' },
      'sim-port': { type: 'string' },
    },
  });
  if (!values.url)
    throw new Error(
      '--url is required (the control plane, e.g. http://127.0.0.1:5000) when `npm start` is not running',
    );
  // A fixed --sim-port lets the control plane be started with HEROKU_API_URL pointing here.
  const sim = await createHerokuSim({ port: portOf(values['sim-port']) });
  try {
    const results = await runConformance(values.url, {
      id: values.id,
      password: values.password,
      plan: values.plan,
      otherPlan: values['other-plan'],
      region: values.region,
      sim,
    });
    for (const r of results)
      console.log(
        `${r.pass ? 'PASS' : 'FAIL'}  ${r.item}${r.pass && r.detail === 'ok' ? '' : ` — ${r.detail}`}`,
      );
    const failed = results.filter((r) => !r.pass).length;
    console.log(
      failed === 0
        ? `all ${results.length} checks passed`
        : `${failed} of ${results.length} checks failed`,
    );
    return failed === 0 ? 0 : 1;
  } finally {
    await sim.close();
  }
}

/** Prints the link that opens one add-on's dashboard through the running stack's simulator. */
async function sso(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { email: { type: 'string' } },
  });
  const uuid = positionals[0];
  if (!uuid) throw new Error('usage: heroku-sim sso <uuid> [--email you@example.com]');
  const simUrl = withLocalStack(process.env).stack?.urls.herokuSim;
  if (!simUrl)
    throw new Error(
      'no local stack with a Heroku simulator is running: start one with `npm start`',
    );
  const query = values.email ? `?email=${encodeURIComponent(values.email)}` : '';
  const link = `${simUrl}/sso/${encodeURIComponent(uuid)}${query}`;
  const res = await fetch(link).catch(() => undefined);
  if (!res)
    throw new Error(`the Heroku simulator at ${simUrl} does not answer: is \`npm start\` running?`);
  if (res.status === 404) throw new Error(`the Heroku simulator knows no add-on ${uuid}`);
  console.log(`open this in a browser (it signs you in as a Heroku user would):\n  ${link}`);
  return 0;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'serve') return serve(rest);
  if (command === 'sso') {
    process.exitCode = await sso(rest);
    return;
  }
  if (command === 'conformance') {
    process.exitCode = await conformance(rest);
    return;
  }
  console.error(
    'usage: heroku-sim serve [--port N] [--state-file F] [--sso-url U] | sso <uuid> [--email E] | conformance [--url URL] [--plan P --other-plan P --region R]',
  );
  process.exitCode = 2;
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(2);
});
