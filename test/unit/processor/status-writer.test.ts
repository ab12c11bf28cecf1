import { describe, expect, it } from 'vitest';
import { perMinute } from '../../../src/processor/status-writer.ts';

describe('perMinute (the health panel’s positions and dead letters per minute)', () => {
  it('is the counter’s rise over the window, per minute', () => {
    const samples = [0, 5, 10, 15, 20].map((s) => ({ at: s * 1000, value: s * 100 }));
    // 100 a second: 6,000 a minute.
    expect(perMinute(samples, 60_000)).toBe(6_000);
  });

  it('only looks back as far as the window', () => {
    const samples = [
      { at: 0, value: 0 },
      { at: 50_000, value: 0 },
      { at: 110_000, value: 600 },
    ];
    // 600 over the last 60 s, not over 110 s.
    expect(perMinute(samples, 60_000)).toBe(600);
  });

  it('has no answer before a second sample, or across a counter reset', () => {
    expect(perMinute([], 60_000)).toBeNull();
    expect(perMinute([{ at: 0, value: 10 }], 60_000)).toBeNull();
    expect(perMinute([{ at: 0, value: 10 }, { at: 500, value: 20 }], 60_000)).toBeNull();
    expect(perMinute([{ at: 0, value: 500 }, { at: 5_000, value: 20 }], 60_000)).toBeNull();
  });

  it('is 0 for a counter that did not move', () => {
    expect(perMinute([{ at: 0, value: 42 }, { at: 5_000, value: 42 }], 60_000)).toBe(0);
  });
});
