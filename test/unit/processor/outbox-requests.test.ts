import { describe, expect, it } from 'vitest';
import type { CrossingFact } from '../../../src/domain/pipeline/facts.ts';
import { halves } from '../../../src/directus/fact-request-halves.ts';
import { groupRequests, outboxGroups } from '../../../src/processor/outbox-requests.ts';
import type { OutboxRow } from '../../../src/store/outbox.ts';

const fact = (key: string, crossedAt = 1): CrossingFact => ({
  type: 'crossing', key, entryId: 'e', stageId: 's', gateId: 'g', deviceId: 'd', kind: 'start', crossedAt, speedKmh: 80,
});
const row = (id: number, upserts: CrossingFact[], retractions: string[] = [], source: OutboxRow['source'] = 'live'): OutboxRow => ({
  id: String(id), source, payload: { upserts, retractions }, attempts: 0,
});
const ids = (groups: OutboxRow[][]) => groups.map((g) => g.map((r) => Number(r.id)));

describe('outboxGroups', () => {
  it('merges consecutive rows of one source up to the size of a request', () => {
    const rows = [row(1, [fact('a')]), row(2, [fact('b')]), row(3, [fact('c')]), row(4, [], [], 'replay'), row(5, [fact('d')])];
    expect(ids(outboxGroups(rows, 2))).toEqual([[1, 2], [3], [4], [5]]);
  });

  it('never merges across a gap in the ids: a row left out may hold a newer change of a fact', () => {
    const rows = [row(10, [fact('x')]), row(11, [fact('y')]), row(13, [fact('x', 2)]), row(14, [fact('z')])];
    expect(ids(outboxGroups(rows))).toEqual([[10, 11], [13, 14]]);
  });

  it('compares ids as big integers, not as text', () => {
    expect(ids(outboxGroups([row(9, [fact('a')]), row(10, [fact('b')])]))).toEqual([[9, 10]]);
    expect(outboxGroups([row(9007199254740993, [fact('a')])]).length).toBe(1);
  });
});

describe('groupRequests', () => {
  it('numbers every part with the newest row of the group, latest change of a fact winning the merge', () => {
    const parts = groupRequests([row(7, [fact('x', 1), fact('y')]), row(8, [fact('x', 2)], ['y'])]);
    expect(parts.map((p) => [p.batch, p.source, p.sequence, p.retractions, p.upserts.map((f) => [f.key, (f as CrossingFact).crossedAt])])).toEqual([
      ['outbox-7-8-0', 'live', 8, ['y'], []],
      ['outbox-7-8-1', 'live', 8, [], [['x', 2]]],
    ]);
  });

  it('splits a large row into parts of at most the request size, retractions first, all under its own number', () => {
    const upserts = Array.from({ length: 5 }, (_, i) => fact(`u${i}`));
    const parts = groupRequests([row(42, upserts, ['r1', 'r2', 'r3'])], 2);
    expect(parts.map((p) => [p.batch, p.sequence, p.retractions, p.upserts.map((f) => f.key)])).toEqual([
      ['outbox-42-0', 42, ['r1', 'r2'], []],
      ['outbox-42-1', 42, ['r3'], []],
      ['outbox-42-2', 42, [], ['u0', 'u1']],
      ['outbox-42-3', 42, [], ['u2', 'u3']],
      ['outbox-42-4', 42, [], ['u4']],
    ]);
  });
});

describe('halves', () => {
  it('splits a request Directus found too large in two with the same number, down to one fact', () => {
    const request = { batch: 'outbox-5-0', source: 'live' as const, sequence: 5, retractions: ['c'], upserts: [fact('a'), fact('b')] };
    const [first, second] = halves(request)!;
    expect([first.batch, first.sequence, first.retractions, first.upserts.map((f) => f.key)]).toEqual(['outbox-5-0.a', 5, ['c'], ['a']]);
    expect([second.batch, second.sequence, second.retractions, second.upserts.map((f) => f.key)]).toEqual(['outbox-5-0.b', 5, [], ['b']]);
    expect(halves(second)).toBeNull();
  });
});
