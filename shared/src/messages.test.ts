import { decodeMessage, encodeMessage, InventorySchema, MessageError } from './messages.js';

const inventory = (instance: Record<string, unknown>): Uint8Array =>
  encodeMessage({
    version: 1,
    agentRegion: 'eu-west',
    agentId: 'a1',
    at: '2027-03-01T19:08:00.000Z',
    instances: [
      {
        uuid: '5a2c1b7e-0000-4000-8000-000000000001',
        generation: 1,
        plan: 'mini',
        ready: true,
        ...instance,
      },
    ],
  });
const STATS = {
  usedMemoryBytes: 1_000_000,
  maxMemoryBytes: 26_214_400,
  keys: 3,
  clients: 1,
  opsPerSec: 2,
  uptimeS: 60,
};

it('an inventory entry carries stats, and one from an older agent without them still parses', () => {
  expect(decodeMessage(InventorySchema, inventory({ stats: STATS })).instances[0]?.stats).toEqual(
    STATS,
  );
  expect(decodeMessage(InventorySchema, inventory({})).instances[0]?.stats).toBeUndefined();
});

it('refuses stats that are not non-negative numbers', () => {
  expect(() =>
    decodeMessage(InventorySchema, inventory({ stats: { ...STATS, keys: -1 } })),
  ).toThrow(MessageError);
  expect(() =>
    decodeMessage(InventorySchema, inventory({ stats: { ...STATS, clients: undefined } })),
  ).toThrow(MessageError);
});
