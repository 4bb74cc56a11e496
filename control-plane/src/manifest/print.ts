/** `npm run manifest -- --base-url https://…`: print the production manifest. */
import { parseArgs } from 'node:util';
import { loadCatalog } from '../catalog/load.js';
import { readDevManifest } from '../config.js';
import { buildManifest } from './build.js';

const { values } = parseArgs({ options: { 'base-url': { type: 'string' } } });
if (!values['base-url']) {
  process.stderr.write('usage: npm run manifest -- --base-url https://addons.example.com\n');
  process.exit(2);
}
try {
  const manifest = buildManifest({
    baseUrl: values['base-url'],
    env: process.env,
    dev: readDevManifest(),
    catalog: loadCatalog(process.env.CATALOG_PATH || undefined),
  });
  process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}
