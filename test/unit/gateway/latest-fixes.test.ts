import { describe, expect, it } from 'vitest';
import type { PositionEntry } from '../../../src/domain/live/position-entry.ts';
import { LatestFixes, newerFix } from '../../../src/gateway/latest-fixes.ts';

const NOW = Date.UTC(2026, 11, 7, 3, 0, 0);
const fix = (ts: number, lat = 31.1): PositionEntry => ({ deviceId: '350936080010011', lat, lon: -4.2, ts });
const noDb = null as never;
const nothingStored = { fixes: new Map(), faulty: new Map() };

describe('the newest fix of a tracker, for the snapshot', () => {
  it('is the newer by GPS time, the one known first when they tie', () => {
    const [older, newer, again] = [fix(NOW - 2000), fix(NOW - 1000), fix(NOW - 1000, 30)];
    expect(newerFix(newer, older, NOW)).toBe(newer);
    expect(newerFix(older, newer, NOW)).toBe(newer);
    expect(newerFix(again, newer, NOW)).toBe(newer);
  });

  it('is not a fix dated minutes ahead of the clock while a true one is known: a clock glitch is not where the car is', () => {
    const latest = new LatestFixes(noDb);
    const glitch = fix(NOW + 200_000, 30);
    latest.offer(fix(NOW - 1000), NOW);
    latest.offer(glitch, NOW);
    latest.offer(fix(NOW), NOW + 1000);
    expect(latest.merge([glitch.deviceId], nothingStored, () => true, NOW + 1000)).toEqual([fix(NOW)]);
    // Stored (the gateway restarted): the same choice between the stream's and the table's.
    expect(latest.merge([glitch.deviceId], { fixes: new Map([[glitch.deviceId, glitch]]), faulty: new Map() }, () => true, NOW + 1000)).toEqual([fix(NOW)]);
    // A tracker whose every fix is ahead is still shown, by its newest.
    const ahead = new LatestFixes(noDb);
    ahead.offer(fix(NOW + 60_000), NOW);
    ahead.offer(fix(NOW + 61_000), NOW);
    expect(ahead.merge([glitch.deviceId], nothingStored, () => true, NOW)).toEqual([fix(NOW + 61_000)]);
  });
});
