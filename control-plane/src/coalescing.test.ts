import { trace, type Span } from '@opentelemetry/api';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { inSpan } from '../../shared/src/tracing/context.js';
import { coalescing } from './coalescing.js';

beforeAll(() => new NodeTracerProvider().register());

it('a pass kicked from inside a traced request runs outside its trace', async () => {
  let seen: Span | undefined | 'not run' = 'not run';
  let done!: () => void;
  const ran = new Promise<void>((resolve) => (done = resolve));
  const pass = coalescing(async () => {
    seen = trace.getActiveSpan();
    done();
  });
  await inSpan('request', {}, async () => {
    expect(trace.getActiveSpan()).toBeDefined();
    pass.kick();
  });
  await ran;
  await pass.stop();
  expect(seen).toBeUndefined();
});
