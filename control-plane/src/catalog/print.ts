/** `npm run catalog`: print the validated catalog as JSON. */
import { describeCatalog, loadCatalog } from './load.js';

const path = process.env.CATALOG_PATH;
process.stdout.write(
  `${JSON.stringify(describeCatalog(loadCatalog(path || undefined)), null, 2)}\n`,
);
