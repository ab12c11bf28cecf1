import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  dateOfPartition,
  FixDates,
  fixDate,
  inRange,
  partitionName,
  partName,
  rangeKey,
  rangeOfPart,
  TEMPORARY_SUFFIX,
  temporaryPartName,
  WrittenBatches,
  type IdRange,
} from '../../../src/exporter/part-files.ts';
import { compareCursor } from '../../../src/stream/cursor.ts';

/** 2^64 - 1, the largest part of a Redis stream id: beyond what a double holds exactly. */
const U64_MAX = '18446744073709551615';

/** Stream ids as Redis makes them: two unsigned 64-bit decimals, no leading zeros. */
const streamId = fc.tuple(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })).map(([ms, seq]) => `${ms}-${seq}`);

describe('part file names', () => {
  it('name a batch by its first and last ids, and read back the same range', () => {
    const range = { first: '1773446400000-0', last: '1773446460123-17' };
    expect(partName(range)).toBe('part-1773446400000-0_1773446460123-17.parquet');
    expect(rangeOfPart(partName(range))).toEqual(range);
  });

  it('round-trip any pair of stream ids, the 64-bit extremes included', () => {
    expect(rangeOfPart(partName({ first: '0-0', last: `${U64_MAX}-${U64_MAX}` }))).toEqual({ first: '0-0', last: `${U64_MAX}-${U64_MAX}` });
    fc.assert(
      fc.property(streamId, streamId, (first, last) => {
        expect(rangeOfPart(partName({ first, last }))).toEqual({ first, last });
      }),
    );
  });

  it.each([
    ['an empty id', { first: '', last: '1-0' }],
    ['an id without its sequence part', { first: '1773446400000', last: '1773446400000-1' }],
    ['the special id "*"', { first: '*', last: '1-0' }],
    ['the special id "$"', { first: '1-0', last: '$' }],
    ['a negative part', { first: '-1-0', last: '1-0' }],
    ['a path', { first: '../1-0', last: '1-0' }],
    ['an underscore, which would make the name ambiguous', { first: '1-0_2-0', last: '3-0' }],
    ['a part longer than 20 digits', { first: `1${U64_MAX}-0`, last: '1-0' }],
    ['spaces', { first: ' 1-0', last: '1-0' }],
  ])('refuse %s', (_what, range) => {
    expect(() => partName(range)).toThrow(RangeError);
    expect(() => temporaryPartName(range)).toThrow(RangeError);
  });

  it('give a part being written a name that is not a part, so recovery removes it and readers globbing *.parquet skip it', () => {
    const range = { first: '5-0', last: '9-3' };
    const temporary = temporaryPartName(range);
    expect(temporary).toBe('part-5-0_9-3.parquet.tmp');
    expect(temporary.endsWith(TEMPORARY_SUFFIX)).toBe(true);
    expect(partName(range).endsWith(TEMPORARY_SUFFIX)).toBe(false);
    expect(rangeOfPart(temporary)).toBeNull();
  });

  it.each([
    'part-5-0_9-3.parquet.tmp',
    'part-5-0_9-3.parquet.crc',
    '.part-5-0_9-3.parquet.crc',
    'part-5-0_9-3.parquet~',
    'part-5-0_9-3.PARQUET',
    'part-5-0-9-3.parquet',
    'part-5_9.parquet',
    'part-5-0_.parquet',
    'xpart-5-0_9-3.parquet',
    'part-5-0_9-3.parquet/',
    'part-a-0_9-3.parquet',
    '_SUCCESS',
    'date=2026-03-14',
  ])('see no range in %j', (name) => {
    expect(rangeOfPart(name)).toBeNull();
  });
});

describe('partitions', () => {
  it('are named date=YYYY-MM-DD and give their date back', () => {
    expect(partitionName('2026-03-14')).toBe('date=2026-03-14');
    expect(dateOfPartition(partitionName('2026-03-14'))).toBe('2026-03-14');
    expect(dateOfPartition('date=1970-01-01')).toBe('1970-01-01');
  });

  it.each(['date=2026-3-14', 'date=20260314', 'Date=2026-03-14', 'date=2026-03-14.tmp', 'date=', '2026-03-14', 'dt=2026-03-14', 'date=2026-03-14/x', ' date=2026-03-14'])(
    'are not recognised in %j',
    (name) => {
      expect(dateOfPartition(name)).toBeNull();
    },
  );
});

describe('fixDate', () => {
  it('is the UTC date, whatever the machine time zone, changing exactly at midnight UTC', () => {
    const midnight = Date.UTC(2026, 2, 15);
    expect(fixDate(midnight - 1)).toBe('2026-03-14');
    expect(fixDate(midnight)).toBe('2026-03-15');
    expect(fixDate(midnight + 1)).toBe('2026-03-15');
    // 01:30 in Paris on the 15th is still the 14th in UTC.
    expect(fixDate(Date.parse('2026-03-15T00:30:00+01:00'))).toBe('2026-03-14');
  });

  it('handles the ends of the range a partition can name, and leap days', () => {
    expect(fixDate(0)).toBe('1970-01-01');
    expect(fixDate(Date.UTC(2024, 1, 29, 23, 59, 59, 999))).toBe('2024-02-29');
    expect(fixDate(Date.UTC(2024, 1, 29, 23, 59, 59, 999) + 1)).toBe('2024-03-01');
    expect(fixDate(Date.UTC(10_000, 0, 1) - 1)).toBe('9999-12-31');
  });

  it('gives a date that names a partition for every time from 1970 to 9999', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Date.UTC(10_000, 0, 1) - 1 }), (ts) => {
        const date = fixDate(ts);
        expect(dateOfPartition(partitionName(date))).toBe(date);
        expect(Date.parse(`${date}T00:00:00Z`)).toBeLessThanOrEqual(ts);
        expect(ts - Date.parse(`${date}T00:00:00Z`)).toBeLessThan(86_400_000);
      }),
    );
  });
});

describe('FixDates', () => {
  it('gives the date fixDate gives, fix after fix, in any order and across midnights', () => {
    const midnight = Date.UTC(2026, 2, 15);
    const dates = new FixDates();
    for (const ts of [midnight - 1, midnight, midnight - 1, midnight + 86_400_000 - 1, midnight + 86_400_000, 0, midnight]) {
      expect(dates.of(ts), String(ts)).toBe(fixDate(ts));
    }
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: Date.UTC(10_000, 0, 1) - 1 }), { maxLength: 50 }), (times) => {
        const cached = new FixDates();
        for (const ts of times) expect(cached.of(ts)).toBe(fixDate(ts));
      }),
    );
  });
});

describe('inRange', () => {
  const range = { first: '1773446400000-5', last: '1773446400001-2' };

  it('includes both ends and what lies between them', () => {
    for (const id of ['1773446400000-5', '1773446400000-6', '1773446400000-99999999999999999', '1773446400001-0', '1773446400001-2']) {
      expect(inRange(id, range), id).toBe(true);
    }
  });

  it('excludes ids before the first and after the last', () => {
    for (const id of ['1773446400000-4', '1773446399999-9', '1773446400001-3', '1773446400002-0', '0-0']) expect(inRange(id, range), id).toBe(false);
  });

  it('compares the parts as numbers, not as text', () => {
    // As text "10-0" < "9-0" and "5-10" < "5-9".
    expect(inRange('10-0', { first: '9-0', last: '11-0' })).toBe(true);
    expect(inRange('5-10', { first: '5-9', last: '5-11' })).toBe(true);
    expect(inRange('5-9', { first: '5-10', last: '5-11' })).toBe(false);
    expect(inRange(`1-${U64_MAX}`, { first: '1-18446744073709551614', last: '2-0' })).toBe(true);
    expect(inRange('1-18446744073709551614', { first: `1-${U64_MAX}`, last: '2-0' })).toBe(false);
  });

  it('holds of a range with a single id', () => {
    expect(inRange('7-7', { first: '7-7', last: '7-7' })).toBe(true);
    expect(inRange('7-8', { first: '7-7', last: '7-7' })).toBe(false);
  });
});

/** Consecutive non-overlapping ranges as the exporter writes them: each batch starts after the previous one ended. */
function consecutiveRanges(count: number): IdRange[] {
  const ranges: IdRange[] = [];
  for (let i = 0; i < count; i++) {
    // Four ranges a millisecond, their sequence parts growing in digit count: as text, "9" would sort after "100".
    const ms = 1_773_446_400_000 + Math.floor(i / 4);
    const seqs = [['0', '8'], ['9', '99'], ['100', '99999999999999999'], ['100000000000000000', U64_MAX]][i % 4]!;
    ranges.push({ first: `${ms}-${seqs[0]}`, last: `${ms}-${seqs[1]}` });
  }
  return ranges;
}

/** The batch of an id found the slow, obvious way. */
const linearBatchOf = (ranges: readonly IdRange[], id: string) => ranges.find((range) => inRange(id, range)) ?? null;

describe('WrittenBatches', () => {
  it('remembers the dates a batch has files for, by range', () => {
    const written = new WrittenBatches();
    const range = { first: '1-0', last: '5-0' };
    written.add(range, '2026-03-14');
    expect(written.has(range, '2026-03-14')).toBe(true);
    expect(written.has(range, '2026-03-15')).toBe(false);
    expect(written.has({ first: '1-0', last: '5-1' }, '2026-03-14')).toBe(false);
    written.add({ ...range }, '2026-03-15');
    expect(written.has(range, '2026-03-15')).toBe(true);
    expect(written.size).toBe(1);
    written.add(range, '2026-03-15');
    expect(written.size).toBe(1);
  });

  it('knows the last entry of the newest batch, whatever order the batches come in', () => {
    const written = new WrittenBatches();
    expect(written.lastId).toBeNull();
    written.add({ first: '10-0', last: '99-5' }, '2026-03-14');
    written.add({ first: '1-0', last: '9-12' }, '2026-03-14');
    expect(written.lastId).toBe('99-5');
    // Numerically, not as text: 100 comes after 99.
    written.add({ first: '100-0', last: '100-10' }, '2026-03-15');
    expect(written.lastId).toBe('100-10');
  });

  it('finds nothing when empty', () => {
    const written = new WrittenBatches();
    expect(written.batchOf('1-0')).toBeNull();
    expect(written.size).toBe(0);
    written.forgetBefore(`${U64_MAX}-${U64_MAX}`);
    expect(written.size).toBe(0);
  });

  it('finds the batch of an id among many, whose sequence parts differ in digit count, added in any order', () => {
    const ranges = consecutiveRanges(1000);
    const written = new WrittenBatches();
    // Added in a scrambled order, as readdir lists them.
    for (let k = 0; k < ranges.length; k++) written.add(ranges[(k * 617) % ranges.length]!, '2026-03-14');
    expect(written.size).toBe(1000);
    for (const range of ranges) {
      expect(written.batchOf(range.first)).toEqual(range);
      expect(written.batchOf(range.last)).toEqual(range);
    }
    // Ids strictly inside, where text order and number order disagree.
    expect(written.batchOf('1773446400000-50')).toEqual(ranges[1]);
    expect(written.batchOf('1773446400000-9999')).toEqual(ranges[2]);
    expect(written.batchOf('1773446400000-18446744073709551614')).toEqual(ranges[3]);
    expect(written.batchOf('1773446400249-5')).toEqual(ranges[996]);
    // Before the first, after the last.
    expect(written.batchOf('1773446399999-0')).toBeNull();
    expect(written.batchOf('1773446400250-0')).toBeNull();
  });

  it('finds nothing for an id in a gap between two batches', () => {
    const written = new WrittenBatches();
    written.add({ first: '10-0', last: '19-0' }, '2026-03-14');
    written.add({ first: '30-0', last: '39-0' }, '2026-03-14');
    written.add({ first: '40-0', last: '40-0' }, '2026-03-14');
    expect(written.batchOf('20-0')).toBeNull();
    expect(written.batchOf('19-1')).toBeNull();
    expect(written.batchOf('29-99')).toBeNull();
    expect(written.batchOf('40-0')).toEqual({ first: '40-0', last: '40-0' });
    expect(written.batchOf('40-1')).toBeNull();
    expect(written.batchOf('9-0')).toBeNull();
  });

  it('agrees with a linear search for any set of non-overlapping ranges and any id', () => {
    // Sorted distinct ids, cut into consecutive ranges with gaps; some ranges kept, others not written.
    const scenario = fc
      .uniqueArray(streamId, { minLength: 2, maxLength: 80, comparator: (a, b) => compareCursor(a, b) === 0 })
      .map((ids) => ids.sort(compareCursor))
      .chain((ids) => fc.tuple(fc.constant(ids), fc.array(fc.boolean(), { minLength: ids.length, maxLength: ids.length }), fc.array(fc.boolean(), { minLength: ids.length, maxLength: ids.length })));
    fc.assert(
      fc.property(scenario, fc.array(streamId, { maxLength: 20 }), ([ids, cuts, kept], probes) => {
        const ranges: IdRange[] = [];
        let first = 0;
        for (let i = 0; i < ids.length; i++) {
          if (cuts[i] || i === ids.length - 1) {
            if (kept[i]) ranges.push({ first: ids[first]!, last: ids[i]! });
            first = i + 1;
          }
        }
        const written = new WrittenBatches();
        for (const range of [...ranges].reverse()) written.add(range, '2026-03-14');
        for (const id of [...ids, ...probes]) expect(written.batchOf(id)).toEqual(linearBatchOf(ranges, id));
      }),
      { numRuns: 300 },
    );
  });

  it('finds a batch added after an earlier lookup', () => {
    const written = new WrittenBatches();
    written.add({ first: '10-0', last: '19-0' }, '2026-03-14');
    expect(written.batchOf('25-0')).toBeNull();
    written.add({ first: '20-0', last: '29-0' }, '2026-03-14');
    expect(written.batchOf('25-0')).toEqual({ first: '20-0', last: '29-0' });
  });

  it('forgets the batches that ended before an id, keeping the one that holds it and those after', () => {
    const ranges = consecutiveRanges(12);
    const written = new WrittenBatches();
    for (const range of ranges) written.add(range, '2026-03-14');
    expect(written.batchOf(ranges[2]!.first)).toEqual(ranges[2]);

    written.forgetBefore(ranges[5]!.first);
    expect(written.size).toBe(7);
    for (const range of ranges.slice(0, 5)) {
      expect(written.batchOf(range.last)).toBeNull();
      expect(written.has(range, '2026-03-14')).toBe(false);
    }
    for (const range of ranges.slice(5)) expect(written.batchOf(range.first)).toEqual(range);

    // An id inside a batch keeps that batch: its entries may still come back.
    written.forgetBefore('1773446400002-50');
    expect(written.batchOf('1773446400002-10')).toEqual(ranges[9]);
    expect(written.batchOf(ranges[8]!.last)).toBeNull();
    expect(written.size).toBe(3);

    // The last id of a batch keeps it too: it ended at, not before, that id.
    written.forgetBefore(ranges[9]!.last);
    expect(written.batchOf(ranges[9]!.last)).toEqual(ranges[9]);
    written.forgetBefore(`${U64_MAX}-${U64_MAX}`);
    expect(written.size).toBe(0);
    expect(written.batchOf(ranges[11]!.last)).toBeNull();
  });

  it('keys ranges so that two different ranges never share a key', () => {
    expect(rangeKey({ first: '1-0', last: '2-0' })).toBe('1-0_2-0');
    expect(rangeKey({ first: '1-0', last: '2-0' })).not.toBe(rangeKey({ first: '1-0', last: '2-1' }));
    expect(rangeKey({ first: '1-0', last: '12-0' })).not.toBe(rangeKey({ first: '1-01', last: '2-0' }));
  });
});
