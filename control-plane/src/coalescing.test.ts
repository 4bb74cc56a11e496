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

it('with minGapMs, asks during a run fold into one more run that starts minGapMs after it', async () => {
  const starts: number[] = [];
  const pass = coalescing(
    async () => {
      starts.push(performance.now());
      await new Promise((r) => setTimeout(r, 5));
    },
    { minGapMs: 60 },
  );
  pass.kick(); // a quiet spell before: runs at once
  for (let i = 0; i < 10; i++) pass.kick(); // fold into one more run
  await new Promise((r) => setTimeout(r, 200));
  await pass.stop();
  expect(starts).toHaveLength(2);
  expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(59);
});
