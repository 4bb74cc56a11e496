import { randomUUID } from 'node:crypto';
import type { FindingRow, FleetRow } from '../db/drift.js';
import { decide, findDrift, mergeInventories } from './drift.js';

const row = (over: Partial<FleetRow> = {}): FleetRow => ({
  uuid: randomUUID(),
  state: 'provisioned',
  plan: 'standard',
  agent_region: 'eu-west',
  busy: false,
  good_generation: 2,
  ...over,
});
const inst = (
  uuid: string,
  over: Partial<{ generation: number; plan: string; ready: boolean }> = {},
) => ({
  uuid,
  generation: 2,
  plan: 'standard',
  ready: true,
  ...over,
});

describe('findDrift', () => {
  it('finds nothing when the region runs what the database says', () => {
    const r = row();
    expect(findDrift('eu-west', [inst(r.uuid)], [r])).toEqual([]);
  });

  it('names each kind of drift', () => {
    const gone = row();
    const dead = row();
    const resized = row();
    const old = row();
    const deprovisioned = row({ state: 'deprovisioned' });
    const elsewhere = row({ agent_region: 'us-east', state: 'provisioned' });
    const stranger = randomUUID();
    const found = findDrift(
      'eu-west',
      [
        inst(dead.uuid, { ready: false }),
        inst(resized.uuid, { plan: 'premium' }),
        inst(old.uuid, { generation: 1 }),
        inst(deprovisioned.uuid),
        inst(elsewhere.uuid),
        inst(stranger),
      ],
      [gone, dead, resized, old, deprovisioned, elsewhere],
    );
    const kind = (uuid: string) => found.find((f) => f.uuid === uuid)?.finding;
    expect(kind(gone.uuid)).toBe('missing');
    expect(kind(dead.uuid)).toBe('missing');
    expect(kind(resized.uuid)).toBe('stale');
    expect(kind(old.uuid)).toBe('stale');
    expect(kind(deprovisioned.uuid)).toBe('orphan');
    expect(kind(elsewhere.uuid)).toBe('unknown');
    expect(kind(stranger)).toBe('unknown');
    expect(found).toHaveLength(7);
  });

  it('leaves a resource with work under way alone', () => {
    const busy = row({ busy: true });
    const leaving = row({ busy: true, state: 'deprovisioning' });
    expect(findDrift('eu-west', [inst(leaving.uuid)], [busy, leaving])).toEqual([]);
  });
});

describe('decide', () => {
  const now = new Date('2026-12-02T12:00:00Z');
  const prior = (over: Partial<FindingRow>): FindingRow => ({
    agent_region: 'eu-west',
    uuid: 'x',
    finding: 'missing',
    detail: {},
    first_seen_at: now,
    last_seen_at: now,
    action: 'repair_requested',
    repairs: 0,
    ...over,
  });
  const o = { orphanGraceS: 3600, maxRepairs: 3, now };

  it('repairs until the budget is spent', () => {
    const f = { uuid: 'x', finding: 'missing' as const, reason: '' };
    expect(decide(f, undefined, o)).toEqual({ act: 'repair' });
    expect(decide(f, prior({ repairs: 2 }), o)).toEqual({ act: 'repair' });
    expect(decide(f, prior({ repairs: 3 }), o)).toEqual({
      act: 'wait',
      why: 'repair_budget_spent',
    });
    // The operator's pass (its cause fixed) tries once more.
    expect(decide(f, prior({ repairs: 3 }), { ...o, pastBudget: true })).toEqual({ act: 'repair' });
    // Another kind of finding starts its own budget.
    expect(decide(f, prior({ repairs: 3, finding: 'stale' }), o)).toEqual({ act: 'repair' });
  });

  it('removes an orphan only after its grace period, counted from when it was first seen', () => {
    const f = { uuid: 'x', finding: 'orphan' as const, reason: '' };
    expect(decide(f, undefined, o)).toEqual({ act: 'wait', why: 'waiting_grace' });
    const young = prior({ finding: 'orphan', first_seen_at: new Date(now.getTime() - 3599_000) });
    expect(decide(f, young, o)).toEqual({ act: 'wait', why: 'waiting_grace' });
    const old = prior({ finding: 'orphan', first_seen_at: new Date(now.getTime() - 3600_000) });
    expect(decide(f, old, o)).toEqual({ act: 'remove' });
  });

  it('only reports an unknown instance', () => {
    expect(decide({ uuid: 'x', finding: 'unknown', reason: '' }, undefined, o)).toEqual({
      act: 'report',
    });
  });
});

it('merges inventories of agents sharing a cluster: one entry per uuid, the best seen', () => {
  const uuid = randomUUID();
  const merged = mergeInventories([
    [inst(uuid, { ready: false, generation: 2 })],
    [inst(uuid, { ready: true, generation: 2 })],
  ]);
  expect(merged).toEqual([inst(uuid, { ready: true })]);
});
