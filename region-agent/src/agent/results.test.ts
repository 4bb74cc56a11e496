import { randomUUID } from 'node:crypto';
import type { JetStreamClient } from 'nats';
import { ResultSchema, decodeMessage } from '../../../shared/src/messages.js';
import { makeJob } from '../../../test/region-agent/support.js';
import { createResultPublisher } from './results.js';

/** A JetStream client whose PubAcks the test hands out; `failNext` makes one publish fail. */
function fakeJs(): {
  js: JetStreamClient;
  sent: Array<{ msgID: string; status: string; settle(ok: boolean): void }>;
} {
  const sent: Array<{ msgID: string; status: string; settle(ok: boolean): void }> = [];
  const js = {
    publish(_subject: string, data: Uint8Array, opts: { msgID: string }) {
      return new Promise((resolve, reject) => {
        const { status } = decodeMessage(ResultSchema, data);
        sent.push({
          msgID: opts.msgID,
          status,
          settle: (ok) => (ok ? resolve({ seq: sent.length }) : reject(new Error('timeout'))),
        });
      });
    },
  } as unknown as JetStreamClient;
  return { js, sent };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('createResultPublisher', () => {
  it("an abandoned attempt's progress is dropped; a retry's steps are not deduplicated against it", async () => {
    const { js, sent } = fakeJs();
    const results = createResultPublisher({ js, region: 'us-east', agentId: 'a' });
    const job = makeJob('provision', randomUUID());
    await results.progress(job, 'issuing certificate'); // never confirmed
    results.abandon(job);
    await results.progress(job, 'issuing certificate'); // the retry, on this agent
    expect(new Set(sent.map((s) => s.msgID)).size).toBe(2);
    const final = results.final(job, 'succeeded', undefined);
    sent[1]!.settle(true);
    await tick();
    // Only the retry's step was waited for: the final went out with the first still unsettled.
    expect(sent.map((s) => s.status)).toEqual(['progress', 'progress', 'succeeded']);
    sent[2]!.settle(true);
    await final;
    const other = createResultPublisher({ js, region: 'us-east', agentId: 'a' });
    await other.progress(job, 'issuing certificate');
    expect(sent[3]!.msgID).not.toBe(sent[1]!.msgID); // another agent process: its own ids
  });

  it('sends progress without waiting for its PubAck; the final waits for every one, re-sending a failed one', async () => {
    const { js, sent } = fakeJs();
    const results = createResultPublisher({ js, region: 'us-east', agentId: 'a' });
    const job = makeJob('provision', randomUUID());
    await results.progress(job, 'issuing certificate');
    await results.progress(job, 'starting instance');
    expect(sent.map((s) => s.msgID)).toEqual([
      expect.stringMatching(new RegExp(`^${job.operationId}:progress:[0-9a-f]{8}:1$`)),
      expect.stringMatching(new RegExp(`^${job.operationId}:progress:[0-9a-f]{8}:2$`)),
    ]);
    let finished = false;
    const final = results.final(job, 'succeeded', undefined).then(() => (finished = true));
    await tick();
    expect(sent).toHaveLength(2); // the final is not sent before the progress is confirmed
    sent[0]!.settle(true);
    sent[1]!.settle(false);
    await tick();
    expect(sent.map((s) => s.msgID).slice(2)).toEqual([sent[1]!.msgID]); // the same msgID
    sent[2]!.settle(true);
    await tick();
    expect(sent[3]).toMatchObject({ msgID: `${job.operationId}:succeeded`, status: 'succeeded' });
    expect(finished).toBe(false);
    sent[3]!.settle(true);
    await final;
    expect(finished).toBe(true);
  });

  it('fails the final when a progress cannot be re-sent either', async () => {
    const { js, sent } = fakeJs();
    const results = createResultPublisher({ js, region: 'us-east', agentId: 'a' });
    const job = makeJob('provision', randomUUID());
    await results.progress(job, 'issuing certificate');
    const final = results.final(job, 'succeeded', undefined);
    sent[0]!.settle(false);
    await tick();
    sent[1]!.settle(false);
    await expect(final).rejects.toThrow('timeout');
    expect(sent.map((s) => s.status)).toEqual(['progress', 'progress']);
  });
});
