import { describe, expect, it } from 'vitest';
import { describeRow, errorCode, errorMessage, formatDateTime, formatDelta, formatDuration, fromLocalInput, guardedCall, toLocalInput } from '../../../extensions/pitwall/src/pitwall-replay-panel/format.ts';
import { pinToFrame, polylinePoints, projectTracks, scaleBar } from '../../../extensions/pitwall/src/shared/project-tracks.ts';

describe('the replay panel map projection', () => {
  // About 2 km east-west and 1 km north-south at 31° N (the demo rally's latitude).
  const track = [
    [-4.0, 31.0],
    [-3.979, 31.009],
  ] as const;

  it('fits the tracks into the box, centred, north up, with east-west scaled by cos(latitude)', () => {
    const projection = projectTracks(track, { width: 1000, padding: 20, minHeight: 100, maxHeight: 2000 })!;
    const [x0, y0] = projection.project(-4.0, 31.0);
    const [x1, y1] = projection.project(-3.979, 31.009);
    // The wider side touches the padding; the other is centred.
    expect(x0).toBeCloseTo(20, 0);
    expect(x1).toBeCloseTo(980, 0);
    expect(y0).toBeGreaterThan(y1); // north is up
    expect((y0 + y1) / 2).toBeCloseTo(projection.height / 2, 0);
    // Aspect ratio: 0.021° of longitude at 31° N is 0.018 "latitude degrees" of distance.
    const ratio = (x1 - x0) / (y0 - y1);
    expect(ratio).toBeCloseTo((0.021 * Math.cos((31.0045 * Math.PI) / 180)) / 0.009, 1);
  });

  it('keeps the height within its bounds and copes with a single point or no points', () => {
    expect(projectTracks([[-4, 31], [-4.1, 31]], { maxHeight: 500 })!.height).toBeGreaterThanOrEqual(240);
    expect(projectTracks([[-4, 31], [-4, 32]], { maxHeight: 500 })!.height).toBe(500);
    const single = projectTracks([[-4, 31]])!;
    expect(single.project(-4, 31)).toEqual([single.width / 2, single.height / 2]);
    expect(projectTracks([])).toBeNull();
    expect(projectTracks([[Number.NaN, 31]])).toBeNull();
  });

  it('draws polylines and picks a round scale bar', () => {
    const projection = projectTracks(track, { width: 1000, padding: 20 })!;
    expect(polylinePoints(projection, track).split(' ')).toHaveLength(2);
    const bar = scaleBar(projection, 150);
    expect([1, 2, 5].map((m) => m * 10 ** Math.floor(Math.log10(bar.metres)))).toContain(bar.metres);
    expect(bar.units).toBeLessThanOrEqual(150);
    expect(bar.units).toBeGreaterThan(150 / 5);
  });

  it('pins a car that left the course at the edge of the map, towards where it is', () => {
    // A course of about 10 km east-west; a car 10 km north-west of its western end.
    const projection = projectTracks([[-4.3, 31.5], [-4.2, 31.5]], { width: 1000, padding: 20 })!;
    const inside = projection.project(-4.25, 31.5);
    expect(pinToFrame(projection, ...inside)).toEqual({ x: inside[0], y: inside[1], off: false, bearing: 0, metres: 0 });
    const [x, y] = projection.project(-4.376, 31.564);
    expect(x).toBeLessThan(0);
    expect(y).toBeLessThan(0);
    const pinned = pinToFrame(projection, x, y);
    expect(pinned).toMatchObject({ x: 14, y: 14, off: true });
    expect(pinned.bearing).toBeGreaterThan(270);
    expect(pinned.bearing).toBeLessThan(360);
    // Due east, beyond the right edge: pinned on it at the same height, bearing 90.
    const east = pinToFrame(projection, projection.width + 500, 100);
    expect(east).toMatchObject({ x: projection.width - 14, y: 100, off: true, bearing: 90 });
    expect(east.metres).toBeCloseTo((500 + 14) * projection.metresPerUnit, 6);
  });
});

describe('the replay panel formatting', () => {
  it('writes deltas with their sign and durations as timekeepers do', () => {
    expect(formatDelta(1500)).toBe('+1.500 s');
    expect(formatDelta(-12)).toBe('−0.012 s');
    expect(formatDelta(0)).toBe('±0.000 s');
    expect(formatDelta(null)).toBe('—');
    expect(formatDelta(59_999)).toBe('+59.999 s');
    expect(formatDelta(300_000)).toBe('+5:00.000');
    expect(formatDelta(-3_723_456)).toBe('−1:02:03.456');
    expect(formatDuration(4500)).toBe('0:04.500');
    expect(formatDuration(723_456)).toBe('12:03.456');
    expect(formatDuration(3_723_456)).toBe('1:02:03.456');
  });

  it('round-trips a time through the datetime-local input', () => {
    const iso = '2026-11-28T09:15:30.000Z';
    expect(toLocalInput(iso)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    expect(fromLocalInput(toLocalInput(iso))).toBe(iso);
    expect(fromLocalInput('')).toBeNull();
    expect(toLocalInput(null)).toBe('');
  });

  it('describes each side of a diff row in the words of its collection', () => {
    expect(describeRow('stage_results', { status: 'finished', total_ms: 723_456, penalty_ms: 0, rank: 2 })).toBe('12:03.456 · P2');
    expect(describeRow('stage_results', { status: 'dnf', total_ms: null, penalty_ms: 300_000, rank: null })).toBe('DNF (pen. 5:00.000)');
    expect(describeRow('entry_penalties', { amount_ms: 57_765 })).toBe('0:57.765');
    expect(describeRow('entry_crossings', null)).toBe('—');
  });

  it('prefers the reason Directus gives for a failed request', () => {
    expect(errorMessage({ response: { data: { errors: [{ message: 'Invalid payload.', extensions: { reason: 'to: `to` must be later than `from`' } }] } } })).toBe(
      'to: `to` must be later than `from`',
    );
    expect(errorMessage({ response: { data: { errors: [{ message: 'Forbidden' }] } } })).toBe('Forbidden');
    expect(errorMessage(new Error('Network Error'))).toBe('Network Error');
  });

  it('reads the code of a refusal, to offer the forced stop of a replay applying its changes', () => {
    expect(errorCode({ response: { data: { errors: [{ message: 'The run is applying its changes', extensions: { code: 'PITWALL_RUN_FINISHING' } }] } } })).toBe('PITWALL_RUN_FINISHING');
    expect(errorCode({ response: { data: { errors: [{ message: 'Forbidden' }] } } })).toBeNull();
    expect(errorCode(new Error('Network Error'))).toBeNull();
  });
});

describe('formatDateTime', () => {
  it('writes the local date and time with a four-digit year, also for year 1', () => {
    const local = new Date(2026, 2, 14, 8, 5, 9);
    expect(formatDateTime(local.toISOString())).toBe('2026-03-14 08:05:09');
    const yearOne = new Date(2026, 0, 1, 0, 0, 0);
    yearOne.setFullYear(1);
    expect(formatDateTime(yearOne.toISOString())).toBe('0001-01-01 00:00:00');
    expect(formatDateTime(null)).toBe('—');
  });
});

describe('guardedCall', () => {
  it('flags the call while it runs, clears an earlier error, and shows a failure as its message', async () => {
    const pending = { value: false };
    const error = { value: 'earlier' as string | null };
    let seen: boolean | null = null;
    await guardedCall(pending, error, async () => {
      seen = pending.value;
    });
    expect([seen, pending.value, error.value]).toEqual([true, false, null]);
    await guardedCall(pending, error, async () => {
      throw { response: { data: { errors: [{ message: 'Bad', extensions: { reason: 'from: expected a date' } }] } } };
    });
    expect([pending.value, error.value]).toEqual([false, 'from: expected a date']);
  });
});
