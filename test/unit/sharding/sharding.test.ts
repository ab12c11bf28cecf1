import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planShards } from '../../../src/domain/sharding/plan-shards.ts';
import { changesKept } from '../../../src/domain/sharding/changes-of-trackers.ts';
import { shardKeys, shardOf, trackersByEntry } from '../../../src/domain/sharding/shard-of.ts';
import { factKey, type Fact } from '../../../src/domain/pipeline/facts.ts';
import { idBefore } from '../../../src/stream/sharded-consumer.ts';

describe('shardOf', () => {
  it('is stable, in range, and spreads IMEIs evenly', () => {
    expect(shardOf('356307042441013', 16)).toBe(shardOf('356307042441013', 16));
    const counts = new Array(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[shardOf(`35630704${String(i).padStart(7, '0')}`, 16)]++;
    for (const count of counts) expect(count).toBeGreaterThan(800);
    for (const count of counts) expect(count).toBeLessThan(1200);
    fc.assert(fc.property(fc.string(), fc.integer({ min: 1, max: 1024 }), (key, n) => {
      const shard = shardOf(key, n);
      return Number.isInteger(shard) && shard >= 0 && shard < n;
    }));
  });
});

describe('shardKeys', () => {
  it('puts the trackers of one car on one key, the smallest IMEI of the car', () => {
    const keys = shardKeys(new Map([
      ['300', [{ entryId: 'car-1' }]],
      ['100', [{ entryId: 'car-1' }]],
      ['200', [{ entryId: 'car-2' }]],
    ]));
    expect(keys.get('300')).toBe('100');
    expect(keys.has('100')).toBe(false); // its own IMEI already
    expect(keys.has('200')).toBe(false);
  });
});

describe('changesKept', () => {
  // car-1 has trackers 100 and 300 (moved away), car-2 has 200 (still here); 400 has no entry.
  const trackers = trackersByEntry(new Map([['100', [{ entryId: 'car-1' }]], ['300', [{ entryId: 'car-1' }]], ['200', [{ entryId: 'car-2' }]]]));
  const isGone = (deviceId: string) => deviceId === '100' || deviceId === '300' || deviceId === '400';
  const of = (entryId: string) => trackers.get(entryId) ?? [];
  const crossing = (entryId: string, deviceId: string): Fact => ({
    type: 'crossing', key: factKey.crossing(entryId, 'g1', 1000), entryId, stageId: 's1', gateId: 'g1', deviceId, kind: 'start', crossedAt: 1000, speedKmh: 80,
  });
  const result = (entryId: string): Fact => ({
    type: 'stage_result', key: factKey.stageResult(entryId, 's1'), entryId, stageId: 's1', status: 'dnf', startedAt: 1000, finishedAt: null, elapsedMs: null, penaltyMs: 0, totalMs: null,
  });
  const signalLoss = (deviceId: string, entryId: string | null): Fact => ({
    type: 'anomaly', key: factKey.anomaly(deviceId, 'signal_loss', '1000'), kind: 'signal_loss', severity: 'warning', entryId, stageId: 's1', deviceId, startedAt: 1000, endedAt: null, details: {},
  });

  it('leaves out the facts of trackers whose shard moved, and of entries all of whose trackers moved', () => {
    const kept = changesKept(
      {
        upserts: [crossing('car-1', '300'), crossing('car-2', '200'), result('car-1'), result('car-2'), signalLoss('400', null), signalLoss('200', 'car-2')],
        retractions: [factKey.anomaly('100', 'signal_loss', '5'), factKey.anomaly('200', 'signal_loss', '5'), factKey.stageResult('car-1', 's2'), factKey.penalty('car-2', 's1', 'speeding', 'z1')],
      },
      isGone,
      of,
    );
    expect(kept.upserts.map((fact) => fact.key)).toEqual([crossing('car-2', '200').key, result('car-2').key, signalLoss('200', 'car-2').key]);
    expect(kept.retractions).toEqual([factKey.anomaly('200', 'signal_loss', '5'), factKey.penalty('car-2', 's1', 'speeding', 'z1')]);
  });

  it('keeps the facts of an entry it cannot place and keys it cannot read', () => {
    const changes = { upserts: [result('car-9')], retractions: [factKey.stageResult('car-9', 's1'), 'odd-key'] };
    expect(changesKept(changes, () => true, of)).toEqual(changes);
  });

  it('keeps everything when no shard moved', () => {
    const changes = { upserts: [crossing('car-1', '300'), result('car-1')], retractions: [factKey.anomaly('100', 'signal_loss', '5')] };
    expect(changesKept(changes, () => false, of)).toEqual(changes);
  });
});

describe('planShards', () => {
  const view = (owners: [number, string][], members: string[], shardCount = 8) => ({ shardCount, owners: new Map(owners), members });

  it('a lone instance takes every shard', () => {
    expect(planShards(view([], ['a']), 'a')).toEqual({ acquire: [0, 1, 2, 3, 4, 5, 6, 7], release: [] });
  });

  it('a newcomer takes only free shards, and the holder hands back its surplus, highest first', () => {
    const all: [number, string][] = Array.from({ length: 8 }, (_, s) => [s, 'a']);
    expect(planShards(view(all, ['a', 'b']), 'a')).toEqual({ acquire: [], release: [7, 6, 5, 4] });
    expect(planShards(view(all, ['a', 'b']), 'b')).toEqual({ acquire: [], release: [] });
    const after: [number, string][] = Array.from({ length: 4 }, (_, s) => [s, 'a']);
    expect(planShards(view(after, ['a', 'b']), 'b')).toEqual({ acquire: [4, 5, 6, 7], release: [] });
  });

  it('takes the shards of an instance that is gone, and moves nothing else', () => {
    const owners: [number, string][] = [[0, 'a'], [1, 'a'], [2, 'a'], [3, 'b'], [4, 'b'], [5, 'c'], [6, 'c'], [7, 'c']];
    // c died: its shards go to a and b, a's and b's stay where they are.
    const a = planShards(view(owners, ['a', 'b']), 'a');
    const b = planShards(view(owners, ['a', 'b']), 'b');
    expect(a).toEqual({ acquire: [5], release: [] });
    expect(b).toEqual({ acquire: [5, 6], release: [] });
  });

  it('converges to an even spread with every shard held once, whatever the start (simulated rounds)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 64 }),
      fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { minLength: 1, maxLength: 5 }),
      fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'gone'), { maxLength: 64 }),
      (shardCount, members, start) => {
        const owners = new Map<number, string>();
        start.slice(0, shardCount).forEach((owner, shard) => owner !== 'gone' && members.includes(owner) && owners.set(shard, owner));
        for (let round = 0; round < 4; round++) {
          for (const me of members) {
            const plan = planShards({ shardCount, owners, members }, me);
            for (const s of plan.release) owners.delete(s);
            for (const s of plan.acquire) if (!owners.has(s)) owners.set(s, me);
          }
        }
        const held = members.map((m) => [...owners.values()].filter((o) => o === m).length);
        return owners.size === shardCount && Math.max(...held) - Math.min(...held) <= 1;
      },
    ));
  });
});

describe('idBefore', () => {
  it('is the stream id just before, so an exclusive read includes the given one', () => {
    expect(idBefore('1733100000000-5')).toBe('1733100000000-4');
    expect(idBefore('1733100000000-0')).toBe('1733099999999-18446744073709551615');
    expect(idBefore('0-0')).toBe('0-0');
  });
});
