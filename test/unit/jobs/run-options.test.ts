import { describe, expect, it, vi } from 'vitest';
import { bodyOfOptions } from '../../../src/jobs/run-options.ts';

describe('bodyOfOptions (replay and backfill operations)', () => {
  it('splits lists, drops blanks and control options, trims text', () => {
    expect(bodyOfOptions({ entries: ' a, b  c ', devices: '', stage: ' s ', from: '', mode: 'preview', wait: true, wait_timeout_s: 30 })).toEqual({
      entries: ['a', 'b', 'c'],
      stage: 's',
      mode: 'preview',
    });
  });

  it('takes lists as JSON arrays too, and parses a candidate layout given as JSON text', () => {
    const layout = [{ stage: 's', name: 'Finish', kind: 'finish_line', geometry: { type: 'LineString', coordinates: [[0, 0], [1, 1]] } }];
    expect(bodyOfOptions({ entries: '["x","y"]', geofences: JSON.stringify(layout) })).toEqual({ entries: ['x', 'y'], geofences: layout });
    expect(bodyOfOptions({ devices: ['1', '2'] })).toEqual({ devices: ['1', '2'] });
  });

  it('turns a rolling window into from/to ending now, unless a range is given', () => {
    vi.useFakeTimers({ now: Date.parse('2026-11-28T12:00:00Z') });
    try {
      expect(bodyOfOptions({ model: 'm', window_hours: '168' })).toEqual({ model: 'm', from: '2026-11-21T12:00:00.000Z', to: '2026-11-28T12:00:00.000Z' });
      expect(bodyOfOptions({ model: 'm', window_hours: 2, from: '2026-01-01T00:00:00Z' })).toEqual({ model: 'm', from: '2026-01-01T00:00:00Z' });
      expect(bodyOfOptions({ model: 'm', window_hours: 0 })).toEqual({ model: 'm' });
    } finally {
      vi.useRealTimers();
    }
  });
});
