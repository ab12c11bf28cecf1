import { describe, expect, it } from 'vitest';
import { entryWrites, sortBatch } from '../../../src/processor/ingest-batch.ts';
import type { StreamEntry } from '../../../src/stream/stream-entry.ts';
import { payload } from '../domain/stream-entry-fixture.ts';

const now = Date.parse('2026-03-01T08:00:00.000Z');
const options = { now, maxFutureSkewMs: 300_000 };

const entry = (id: string, timestamp: string, device = payload.device_id): StreamEntry => ({
  id,
  fields: { ts: timestamp, device_id: device, codec: '8E', payload: JSON.stringify({ ...payload, device_id: device, timestamp }) },
});

describe('sortBatch', () => {
  it('keeps each position with its stream entry, and dead-letters with a category', () => {
    const entries: StreamEntry[] = [
      entry('1-0', '2026-03-01T07:59:59.000Z'),
      { id: '2-0', fields: null },
      { id: '3-0', fields: { ts: 'x' } },
      entry('4-0', '2026-03-01T08:00:01.000Z', '350936080010026'),
    ];
    const sorted = sortBatch(entries, options);
    expect(sorted.positions.map((p) => p.deviceId)).toEqual([payload.device_id, '350936080010026']);
    expect(sorted.sources.map((e) => e.id)).toEqual(['1-0', '4-0']);
    expect(sorted.deadLetters.map((l) => [l.id, l.category])).toEqual([
      ['2-0', 'trimmed'],
      ['3-0', 'malformed'],
    ]);
    expect(sorted.deadLetters[1]!.fields).toEqual({ ts: 'x' });
  });

  it('dead-letters a fix dated more than the allowed skew ahead of the clock, before any pipeline sees it', () => {
    const sorted = sortBatch([entry('1-0', '2026-03-01T08:05:00.000Z'), entry('2-0', '2026-03-01T08:05:00.001Z'), entry('3-0', '2026-03-02T08:00:00.000Z')], options);
    expect(sorted.sources.map((e) => e.id)).toEqual(['1-0']);
    expect(sorted.deadLetters.map((l) => [l.id, l.category])).toEqual([
      ['2-0', 'future'],
      ['3-0', 'future'],
    ]);
    expect(sorted.deadLetters[1]!.reason).toBe(
      "payload.timestamp: 2026-03-02T08:00:00.000Z is 86400000 ms ahead of the processor's clock (2026-03-01T08:00:00.000Z), more than MAX_FUTURE_SKEW_MS (300000)",
    );
    expect(sorted.deadLetters[1]!.fields).toEqual(entry('3-0', '2026-03-02T08:00:00.000Z').fields);
  });
});

describe('entryWrites', () => {
  it('puts each decoded row with the position it was made from, duplicates each with their own', () => {
    const entries = [entry('1-0', '2026-03-01T07:00:00.000Z'), entry('2-0', '2026-03-01T07:00:01.000Z'), entry('3-0', '2026-03-01T07:00:00.000Z'), entry('4-0', '2026-03-01T07:00:02.000Z', 'other')];
    const { positions, sources } = sortBatch(entries, options);
    const decoded = positions.filter((p) => p.deviceId !== 'other').map((p, i) => ({ deviceId: p.deviceId, ts: p.ts, attributesJson: JSON.stringify({ i }), mappingVersion: 'v1' }));
    const writes = entryWrites(sources, positions, decoded);
    expect(writes.map((w) => [w.id, w.positions.length, w.decoded.map((d) => JSON.parse(d.attributesJson).i)])).toEqual([
      ['1-0', 1, [0]],
      ['2-0', 1, [1]],
      ['3-0', 1, [2]],
      ['4-0', 1, []],
    ]);
  });

  it('keeps a decoded row of no position rather than losing it', () => {
    const writes = entryWrites([], [], [{ deviceId: 'x', ts: 1, attributesJson: '{}', mappingVersion: 'v1' }]);
    expect(writes).toEqual([{ id: null, positions: [], decoded: [{ deviceId: 'x', ts: 1, attributesJson: '{}', mappingVersion: 'v1' }] }]);
  });
});
