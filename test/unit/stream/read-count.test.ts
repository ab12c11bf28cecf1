import { describe, expect, it } from 'vitest';
import { boundedReadCount, entrySize, READ_BYTES, recentLargest } from '../../../src/stream/read-count.ts';

describe('boundedReadCount', () => {
  it('asks for at most 200 entries before any entry size is known', () => {
    expect(boundedReadCount(16_000, 0)).toBe(200);
    expect(boundedReadCount(50, 0)).toBe(50);
  });

  it('leaves the count of reads of trackers\u2019 fixes (about a kilobyte) as it is', () => {
    expect(boundedReadCount(16_000, 1_200)).toBe(16_000);
  });

  it('brings about READ_BYTES of entries the size of the largest of the read before, and at least one', () => {
    expect(boundedReadCount(16_000, 1_048_576)).toBe(32);
    expect(boundedReadCount(16_000, 1_000_000, 1_100_000)).toBe(1);
    expect(boundedReadCount(16_000, 5_000_000, 1_100_000)).toBe(1);
    expect(boundedReadCount(16_000, READ_BYTES / 100)).toBe(100);
  });
});

describe('entrySize', () => {
  it('adds the lengths of the field names and values, and is 0 for an entry whose content was trimmed', () => {
    expect(entrySize(['device_id', 'abc', 'payload', '{}'])).toBe(9 + 3 + 7 + 2);
    expect(entrySize([Buffer.from('payload'), Buffer.alloc(1000)])).toBe(1007);
    expect(entrySize(null)).toBe(0);
  });
});

describe('recentLargest', () => {
  it('takes a larger entry at once, and halves towards smaller ones', () => {
    expect(recentLargest(0, 300)).toBe(300);
    expect(recentLargest(300, 1_000_000)).toBe(1_000_000);
    expect(recentLargest(1_000_000, 266)).toBe(500_000);
    expect(recentLargest(500_000, 266)).toBe(250_000);
    expect(recentLargest(400, 266)).toBe(266);
  });
});
