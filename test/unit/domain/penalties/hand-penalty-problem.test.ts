import { describe, expect, it } from 'vitest';
import { handPenaltiesDeleteProblem, handPenaltyDeleteProblem, handPenaltyProblem, MAX_HAND_PENALTY_MS } from '../../../../src/domain/penalties/hand-penalty-problem.ts';

const fresh = { entryId: 'e1', stageId: 's1', kind: 'manual', amountMs: 10_000 };
const manual = { ...fresh };
const speeding = { entryId: 'e1', stageId: 's1', kind: 'speeding', amountMs: 52_573, details: { zone: 'z1', max_speed_kmh: 92.4 } };

describe('handPenaltyProblem', () => {
  it('accepts a new manual penalty, a kind the organiser added, and an amount sent as text', () => {
    expect(handPenaltyProblem(fresh, null)).toBeNull();
    expect(handPenaltyProblem({ ...fresh, kind: 'jump_start' }, null)).toBeNull();
    expect(handPenaltyProblem({ ...fresh, amountMs: '20000' }, null)).toBeNull();
    expect(handPenaltyProblem({ ...fresh, amountMs: ' 0 ' }, null)).toBeNull();
  });

  it('names each field a new penalty leaves out or empty', () => {
    for (const field of ['entryId', 'stageId', 'kind', 'amountMs'] as const) {
      for (const empty of [undefined, null, '']) {
        expect(handPenaltyProblem({ ...fresh, [field]: empty }, null), `${field} ${empty}`).toEqual({ field, message: `${({ entryId: 'entry', stageId: 'stage', kind: 'kind', amountMs: 'amount_ms' })[field]} is required for a new penalty` });
      }
    }
  });

  it('refuses a pipeline kind given by hand, on a new penalty and as a changed kind', () => {
    for (const kind of ['speeding', 'missed_waypoint']) {
      const problem = handPenaltyProblem({ ...fresh, kind }, null);
      expect(problem?.field).toBe('kind');
      expect(problem?.message).toBe(
        `kind "${kind}" is computed by the pipeline, which keeps only its own penalties of that kind in a result's total: give a penalty by hand another kind, such as manual`,
      );
      expect(handPenaltyProblem({ kind }, manual)?.field).toBe('kind');
    }
  });

  it('refuses a change by hand of a penalty the pipeline computed, which it would write again', () => {
    for (const write of [{ amountMs: 3_000 }, { amountMs: '1000' }, { kind: 'manual' }, { entryId: 'e2' }, { stageId: 's2' }, { details: { note: 'reviewed by stewards' } }, { details: null }]) {
      const problem = handPenaltyProblem(write, speeding);
      expect(problem?.field, JSON.stringify(write)).toBe(Object.keys(write)[0]);
      expect(problem?.message).toBe(
        'this speeding penalty is computed by the pipeline: to lift it, set waived with the reason; to give another amount, waive it and add a manual penalty. (Changed by hand it would not last: the pipeline writes it again from the fixes when it next times the entry, after a late fix or a replay.)',
      );
    }
  });

  it('lets an update send the pipeline’s penalty unchanged (a form or an import sending every field)', () => {
    expect(handPenaltyProblem({ kind: 'speeding', amountMs: 52_573, entryId: 'e1', stageId: 's1' }, speeding)).toBeNull();
    expect(handPenaltyProblem({ amountMs: '52573' }, speeding)).toBeNull();
    expect(handPenaltyProblem({}, speeding)).toBeNull();
    expect(handPenaltyProblem({ details: { max_speed_kmh: 92.4, zone: 'z1' } }, speeding)).toBeNull();
    expect(handPenaltyProblem({ details: '{"zone":"z1","max_speed_kmh":92.4}' }, speeding)).toBeNull();
    expect(handPenaltyProblem({ details: { note: 'jump start' } }, manual)).toBeNull();
    // The officials' own penalties stay theirs to change.
    expect(handPenaltyProblem({ amountMs: 3_000, kind: 'jump_start' }, manual)).toBeNull();
  });

  it('refuses an amount that is no whole, non-negative number of milliseconds, shown cut short', () => {
    for (const amountMs of ['abc', 1.5, '1.5', -5_000, '-5000', Number.NaN, Infinity, 2 ** 53, null, true, {}, '1e6']) {
      const problem = handPenaltyProblem({ amountMs }, manual);
      expect(problem?.field, String(amountMs)).toBe('amountMs');
    }
    expect(handPenaltyProblem({ amountMs: 'x'.repeat(100) }, manual)?.message).toBe(`amount_ms must be a whole, non-negative number of milliseconds, got "${'x'.repeat(39)}…`);
    expect(handPenaltyProblem({ ...fresh, amountMs: 'abc' }, null)?.message).toBe('amount_ms must be a whole, non-negative number of milliseconds, got "abc"');
  });

  it('refuses one penalty of more than a hundred hours, a typo whose total no result can hold', () => {
    expect(handPenaltyProblem({ ...fresh, amountMs: MAX_HAND_PENALTY_MS }, null)).toBeNull();
    expect(handPenaltyProblem({ ...fresh, amountMs: 2_147_483_647 }, null)).toEqual({ field: 'amountMs', message: 'amount_ms is at most 360000000 (100:00:00, a hundred hours) for one penalty, got 2147483647' });
    expect(handPenaltyProblem({ amountMs: '360000001' }, manual)?.field).toBe('amountMs');
  });
});

describe('handPenaltyDeleteProblem', () => {
  it('refuses deleting a penalty the pipeline computed, which would come back, and points to waiving it', () => {
    for (const kind of ['speeding', 'missed_waypoint']) {
      expect(handPenaltyDeleteProblem({ kind })).toEqual({
        field: 'kind',
        message: `this ${kind} penalty is computed by the pipeline: to lift it, set waived with the reason (it then no longer counts, and stays so). (Deleted by hand it would come back: the pipeline writes it again from the fixes when it next times the entry, after a late fix or a replay.)`,
      });
    }
  });

  it('lets the officials delete their own penalties', () => {
    for (const kind of ['manual', 'jump_start']) expect(handPenaltyDeleteProblem({ kind })).toBeNull();
  });

  it('names the computed penalties of a delete of several, so that the others can be deleted without them', () => {
    const manual = { kind: 'manual', label: '#7 SS1 manual' };
    const speeding = (n: number) => ({ kind: 'speeding', label: `#${n} SS2 speeding` });
    expect(handPenaltiesDeleteProblem([manual, { kind: 'jump_start', label: '#8 SS1 jump_start' }])).toBeNull();
    expect(handPenaltiesDeleteProblem([speeding(1)])).toEqual(handPenaltyDeleteProblem({ kind: 'speeding' }));
    expect(handPenaltiesDeleteProblem([manual, speeding(1), { kind: 'missed_waypoint', label: '#9 SS2 missed_waypoint' }])).toEqual({
      field: 'kind',
      message:
        '2 of the 3 penalties are computed by the pipeline (#1 SS2 speeding, #9 SS2 missed_waypoint): delete the others without them. To lift a computed one, set waived with the reason. (Deleted by hand it would come back: the pipeline writes it again from the fixes when it next times the entry.)',
    });
    const many = handPenaltiesDeleteProblem([manual, ...Array.from({ length: 12 }, (_, i) => speeding(i + 1))])!.message;
    expect(many).toMatch(/^12 of the 13 penalties are computed by the pipeline \(#1 SS2 speeding, .*, #10 SS2 speeding and 2 more\)/);
  });

  it('wants the reason of a waiver, written with it or stored before', () => {
    const need = { field: 'waivedReason', message: "a waiver needs its reason in waived_reason, for example the stewards' decision number" };
    expect(handPenaltyProblem({ waived: true }, speeding)).toEqual(need);
    expect(handPenaltyProblem({ waived: 'true', waivedReason: '  ' }, speeding)).toEqual(need);
    // Any value Postgres stores as true is a waiver: 1, "1", "yes", "on", "t", " TRUE ".
    for (const waived of [1, '1', 'yes', 'y', 'on', 't', 'tr', ' TRUE ']) expect(handPenaltyProblem({ waived }, speeding), String(waived)).toEqual(need);
    for (const waived of [false, 0, '0', 'false', 'no', 'off', 'f', '']) expect(handPenaltyProblem({ waived }, speeding), String(waived)).toBeNull();
    expect(handPenaltyProblem({ waived: true, waivedReason: 'Stewards decision 12' }, speeding)).toBeNull();
    expect(handPenaltyProblem({ waived: true }, { ...speeding, waivedReason: 'Stewards decision 12' })).toBeNull();
    // Clearing the reason of a waived penalty, or counting it again.
    expect(handPenaltyProblem({ waivedReason: null }, { ...speeding, waived: true, waivedReason: 'x' })).toEqual(need);
    expect(handPenaltyProblem({ waived: false, waivedReason: null }, { ...speeding, waived: true, waivedReason: 'x' })).toBeNull();
  });
});
