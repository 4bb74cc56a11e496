import { Writable } from 'node:stream';
import { createLogger, withLogFields } from '../../shared/src/logger.js';
import { coalescing } from './coalescing.js';

it('a pass kicked from inside a request runs outside it (no request id in its log lines)', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  const log = createLogger({ name: 'test', destination });
  let done!: () => void;
  const ran = new Promise<void>((resolve) => (done = resolve));
  const pass = coalescing(async () => {
    log.info('background pass');
    done();
  });
  withLogFields({ requestId: 'r-1' }, () => {
    log.info('in the request');
    pass.kick();
  });
  await ran;
  await pass.stop();
  expect(lines.map((l) => [l.msg, l.requestId])).toEqual([
    ['in the request', 'r-1'],
    ['background pass', undefined],
  ]);
});
