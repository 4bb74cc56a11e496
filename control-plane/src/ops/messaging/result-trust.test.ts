import { randomUUID } from 'node:crypto';
import { MESSAGE_VERSION, type Result } from '../../../../shared/src/messages.js';
import { checkAgainstState, checkEnvelope, parseResultSubject } from './result-trust.js';

const uuid = randomUUID();
const result: Result = {
  version: MESSAGE_VERSION,
  operationId: randomUUID(),
  uuid,
  kind: 'change_plan',
  generation: 2,
  agentRegion: 'eu-west',
  agentId: 'a1',
  status: 'succeeded',
  at: new Date().toISOString(),
};
const op = { resource_uuid: uuid, kind: 'change_plan' as const, generation: 2 };
const resource = { agent_region: 'eu-west' };

describe('result trust', () => {
  it('parses only results.<region>.<uuid>', () => {
    expect(parseResultSubject(`results.eu-west.${uuid}`)).toEqual({ region: 'eu-west', uuid });
    expect(parseResultSubject(`results.eu-west.${uuid}.x`)).toBeUndefined();
    expect(parseResultSubject(`jobs.eu-west.${uuid}`)).toBeUndefined();
    expect(parseResultSubject('results..x')).toBeUndefined();
  });

  it('accepts a result on its own region and uuid, for the operation sent', () => {
    const envelope = checkEnvelope(`results.eu-west.${uuid}`, result);
    expect(envelope).toEqual({ origin: { region: 'eu-west', uuid } });
    expect(checkAgainstState({ region: 'eu-west', uuid }, result, op, resource)).toBeUndefined();
  });

  it.each([
    [`results.eu-west.${randomUUID()}`, 'subject_uuid_mismatch'],
    [`results.us-east.${uuid}`, 'payload_region_mismatch'],
    ['results.eu-west', 'malformed_subject'],
  ])('refuses the envelope %s (%s)', (subject, reason) => {
    expect(checkEnvelope(subject, result)).toEqual({ reject: reason });
  });

  it('refuses a region that does not host the resource even when the payload agrees with the subject', () => {
    const forged = { ...result, agentRegion: 'us-east' };
    const envelope = checkEnvelope(`results.us-east.${uuid}`, forged);
    expect('origin' in envelope && checkAgainstState(envelope.origin, forged, op, resource)).toBe(
      'wrong_region',
    );
  });

  it.each([
    ['unknown_operation', undefined, resource, {}],
    ['operation_of_another_resource', { ...op, resource_uuid: randomUUID() }, resource, {}],
    ['kind_mismatch', op, resource, { kind: 'deprovision' as const }],
    ['generation_mismatch', op, resource, { generation: 3 }],
  ])('refuses %s', (reason, operation, res, change) => {
    expect(
      checkAgainstState({ region: 'eu-west', uuid }, { ...result, ...change }, operation, res),
    ).toBe(reason);
  });
});
