import { describe, expect, it, vi } from 'vitest';
import { bodyOfOptions, RunParamsError, waitOption, waitTimeoutMs } from '../../../src/jobs/run-options.ts';

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
      expect(bodyOfOptions({ model: 'm', window_hours: ' ' })).toEqual({ model: 'm' });
      expect(bodyOfOptions({ model: 'm', window_hours: 'undefined' })).toEqual({ model: 'm' });
    } finally {
      vi.useRealTimers();
    }
  });

  it('names window_hours when it is no window, rather than the from and to it would have made', () => {
    for (const raw of [0, -5, 'abc', 100_000_000, '1e9', '0x10', true]) {
      expect(() => bodyOfOptions({ model: 'm', window_hours: raw as never }), String(raw)).toThrow(
        new RunParamsError(`Invalid options: window_hours: expected a number of hours above 0 and at most 876,600 (a century), got ${JSON.stringify(raw)}`),
      );
    }
  });

  it('names the option whose JSON text is malformed, in a RunParamsError', () => {
    for (const [field, text] of [['entries', '["a", "b"'], ['devices', '[1,]'], ['geofences', '[{"stage": }]']] as const) {
      let thrown: unknown;
      try {
        bodyOfOptions({ [field]: text });
      } catch (error) {
        thrown = error;
      }
      expect(thrown, field).toBeInstanceOf(RunParamsError);
      expect((thrown as Error).message).toMatch(new RegExp(`^Invalid options: ${field}: not valid JSON \\(`));
      // Handed on by the Flow as {{$last}}, it still says what is wrong.
      expect(JSON.parse(JSON.stringify(thrown))).toEqual({ name: 'RunParamsError', message: (thrown as Error).message });
    }
  });

  it('leaves out an option whose template found nothing (Directus renders it as undefined or null)', () => {
    expect(bodyOfOptions({ stage: 's', mode: 'preview', entries: 'undefined', geofences: ' undefined ', devices: 'null', from: 'null' })).toEqual({ stage: 's', mode: 'preview' });
  });
});

describe('waitTimeoutMs (the operations\' wait_timeout_s)', () => {
  it('is 300 s when blank, missing or no number, so that a bad template neither spins nor gives up at once', () => {
    for (const value of [undefined, '', '  ', 'abc', 'NaN', 'Infinity', '1e999', '{{ $trigger.timeout }}']) {
      expect(waitTimeoutMs({ wait_timeout_s: value as string | undefined }), String(value)).toBe(300_000);
    }
    expect(waitTimeoutMs({})).toBe(300_000);
    expect(waitTimeoutMs({ wait_timeout_s: null as unknown as string })).toBe(300_000);
  });

  it('takes seconds as a number or text, kept within 1 s and a day', () => {
    expect(waitTimeoutMs({ wait_timeout_s: 60 })).toBe(60_000);
    expect(waitTimeoutMs({ wait_timeout_s: ' 90 ' })).toBe(90_000);
    expect(waitTimeoutMs({ wait_timeout_s: '2.5' })).toBe(2_500);
    expect(waitTimeoutMs({ wait_timeout_s: 0 })).toBe(1_000);
    expect(waitTimeoutMs({ wait_timeout_s: '-5' })).toBe(1_000);
    expect(waitTimeoutMs({ wait_timeout_s: 10_000_000 })).toBe(86_400_000);
  });
});

describe('waitOption (the operations\' wait)', () => {
  it('reads the toggle and its text from a template; blank or nothing found is false', () => {
    for (const wait of [true, 'true', ' TRUE ', 'True']) expect(waitOption({ wait: wait as string }), String(wait)).toBe(true);
    for (const wait of [false, 'false', 'False', '', '  ', undefined, null, 'undefined', 'null']) expect(waitOption({ wait: wait as string }), String(wait)).toBe(false);
    expect(waitOption({})).toBe(false);
  });

  it('refuses anything else, naming the option, rather than read it as false', () => {
    for (const wait of ['yes', '1', 'on', 1, {}]) {
      expect(() => waitOption({ wait: wait as string }), String(wait)).toThrow(RunParamsError);
    }
    expect(() => waitOption({ wait: 'yes' })).toThrow('Invalid options: wait: expected true or false, got "yes"');
  });
});
