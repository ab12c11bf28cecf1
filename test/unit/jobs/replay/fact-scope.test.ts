import { describe, expect, it } from 'vitest';
import { recordOfRow } from '../../../../src/jobs/replay/fact-records.ts';
import { factInScope, runKey, type FactScope } from '../../../../src/jobs/replay/fact-scope.ts';

const entry = '11111111-1111-4111-8111-111111111111';
const stranger = '99999999-9999-4999-8999-999999999999';
const stage = '33333333-3333-4333-8333-333333333333';
const device = '350936080010011';
const t0 = Date.UTC(2026, 10, 28, 9);
const iso = (ms: number) => new Date(ms).toISOString();
const scope: FactScope = { from: t0, to: t0 + 3_600_000, entries: new Set([entry]), stages: new Set([stage]), devices: new Set([device]), stage: null };
const runs = new Set([runKey(entry, stage)]);
const anomaly = (extra: Record<string, unknown>) =>
  recordOfRow('anomalies', { id: 'a', kind: 'signal_loss', severity: 'warning', entry, stage, device_id: device, started_at: iso(t0 + 10), ended_at: null, details: {}, ...extra });
const penalty = (extra: Record<string, unknown>) => recordOfRow('entry_penalties', { id: 'p', entry, stage, kind: 'speeding', amount_ms: 1000, details: {}, ...extra });

describe('factInScope', () => {
  it('takes crossings and results of the scope inside the range, not outside it or of other entries', () => {
    const crossing = (at: number, e = entry) => recordOfRow('entry_crossings', { id: 'c', entry: e, stage, geofence: 'g', device_id: device, kind: 'start', crossed_at: iso(at), speed_kmh: 80 });
    expect(factInScope(crossing(t0), scope, runs)).toBe(true);
    expect(factInScope(crossing(t0 + 3_600_000), scope, runs)).toBe(false);
    expect(factInScope(crossing(t0, stranger), scope, runs)).toBe(false);
    const result = (startedAt: number) => recordOfRow('stage_results', { id: 'r', entry, stage, status: 'running', started_at: iso(startedAt), finished_at: null });
    expect(factInScope(result(t0 + 5), scope, runs)).toBe(true);
    expect(factInScope(result(t0 - 5), scope, runs)).toBe(false);
  });

  it('leaves crossings the officials corrected by hand to them, and does not take their mark for a field', () => {
    const row = { id: 'c', entry, stage, geofence: 'g', device_id: device, kind: 'start', crossed_at: iso(t0), speed_kmh: 80 };
    const corrected = recordOfRow('entry_crossings', { ...row, corrected_at: new Date(t0 + 60_000) });
    expect(corrected.official).toBe(true);
    expect(corrected.row).not.toHaveProperty('corrected_at');
    expect(factInScope(corrected, scope, runs)).toBe(false);
    expect(factInScope(recordOfRow('entry_crossings', { ...row, corrected_at: null }), scope, runs)).toBe(true);
  });

  it('leaves manual penalties and penalties of runs outside the range to the timekeepers', () => {
    expect(factInScope(penalty({}), scope, runs)).toBe(true);
    expect(factInScope(penalty({ kind: 'manual' }), scope, runs)).toBe(false);
    expect(factInScope(penalty({}), scope, new Set())).toBe(false);
  });

  it('never takes late-data anomalies: replay reads in order and cannot reproduce them', () => {
    expect(factInScope(anomaly({}), scope, runs)).toBe(true);
    expect(factInScope(anomaly({ kind: 'late_data' }), scope, runs)).toBe(false);
  });

  it('takes anomalies outside any stage only when no stage was chosen', () => {
    expect(factInScope(anomaly({ stage: null, entry: null }), scope, runs)).toBe(true);
    expect(factInScope(anomaly({ stage: null }), { ...scope, stage }, runs)).toBe(false);
    expect(factInScope(anomaly({ device_id: '350936080010029' }), scope, runs)).toBe(false);
  });
});
