/** `npm run stop` / `npm run reset`: see stop.ts. */
import { stop } from './stop.js';

stop(process.env, {
  reset: process.argv.includes('--reset'),
  say: (s) => void process.stdout.write(`${s}\n`),
}).catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 1;
});
