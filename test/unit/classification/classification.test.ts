import { describe, expect, it } from 'vitest';
import { overallClassification, stageClassification } from '../../../extensions/pitwall/src/shared/classification.ts';

/** Rows as Directus's ItemsService answers them: timestamps as ISO strings, integer times as numbers. */
const event = { id: 'ev', name: 'Desert Rally' };
const ss1 = { id: 'ss1', name: 'SS1 Erg Chebbi', sort_order: 1, opens_at: '2026-03-01T00:00:00.000Z', closes_at: '2026-03-08T00:00:00.000Z' };
const ss2 = { id: 'ss2', name: 'SS2 Merzouga', sort_order: 2, opens_at: '2026-03-01T00:00:00.000Z', closes_at: '2026-03-08T00:00:00.000Z' };
const ss3 = { id: 'ss3', name: 'SS3 Not yet', sort_order: 3, opens_at: null, closes_at: null };
const crew = (n: number, category: string | null = 'T1') => ({ id: `e${n}`, race_number: n, name: `Crew ${n}`, category });
const entries = [crew(101), crew(102), crew(103, 'T3'), crew(104), crew(105, null), crew(106)];
const t0 = Date.UTC(2026, 2, 1, 9, 0, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();
const finished = (n: number, stage: string, elapsed: number, penalty = 0) => ({
  entry: `e${n}`, stage, status: 'finished', started_at: iso(t0 + n * 60_000), finished_at: iso(t0 + n * 60_000 + elapsed), elapsed_ms: elapsed, penalty_ms: penalty, total_ms: elapsed + penalty,
});
const running = (n: number, stage: string) => ({ entry: `e${n}`, stage, status: 'running', started_at: iso(t0 + n * 60_000), finished_at: null, elapsed_ms: null, penalty_ms: null, total_ms: null });
const dnf = (n: number, stage: string) => ({ ...running(n, stage), status: 'dnf' });
const now = new Date('2026-03-01T10:15:00.000Z');

describe('stageClassification (GET /pitwall/classification with a stage)', () => {
  const results = [
    running(105, 'ss1'), finished(103, 'ss1', 105_000), dnf(106, 'ss1'), finished(101, 'ss1', 100_000),
    finished(102, 'ss1', 95_000, 10_000), finished(104, 'ss1', 110_500),
    // Another event's entry on the same stage (a polluted database): not part of this classification.
    { ...finished(999, 'ss1', 50_000), entry: 'other-event-entry' },
    // Another stage's result.
    finished(104, 'ss2', 1_000),
  ];
  const c = stageClassification(event, ss1, entries, results, now);

  it('ranks by total with ties shown as ties, then running, then DNF, with the crew of each entry', () => {
    expect(c.kind).toBe('stage');
    expect(c.computed_at).toBe('2026-03-01T10:15:00.000Z');
    expect(c.event).toEqual({ id: 'ev', name: 'Desert Rally' });
    expect(c.stage).toEqual(ss1);
    expect(c.rows.map((r) => [r.race_number, r.rank, r.tied, r.status, r.category])).toEqual([
      [101, 1, false, 'finished', 'T1'],
      [102, 2, true, 'finished', 'T1'],
      [103, 2, true, 'finished', 'T3'],
      [104, 4, false, 'finished', 'T1'],
      [105, null, false, 'running', null],
      [106, null, false, 'dnf', 'T1'],
    ]);
  });

  it('answers times, penalties and gaps in milliseconds and instants as ISO strings', () => {
    expect(c.rows[1]).toEqual({
      entry: 'e102', race_number: 102, name: 'Crew 102', category: 'T1', rank: 2, tied: true, status: 'finished',
      started_at: iso(t0 + 102 * 60_000), finished_at: iso(t0 + 102 * 60_000 + 95_000),
      elapsed_ms: 95_000, penalty_ms: 10_000, total_ms: 105_000, gap_to_leader_ms: 5_000, gap_to_ahead_ms: 5_000,
    });
    expect(c.rows.map((r) => [r.gap_to_leader_ms, r.gap_to_ahead_ms])).toEqual([[null, null], [5_000, 5_000], [5_000, 0], [10_500, 5_500], [null, null], [null, null]]);
    // A stored null penalty is no penalty.
    expect(c.rows[4]).toMatchObject({ elapsed_ms: null, penalty_ms: 0, total_ms: null, finished_at: null });
  });

  it('is empty when nobody has started the stage', () => {
    expect(stageClassification(event, ss2, entries, [], now).rows).toEqual([]);
  });
});

describe('overallClassification (GET /pitwall/classification without a stage)', () => {
  const results = [
    finished(101, 'ss1', 100_000), finished(101, 'ss2', 200_000, 10_000),
    finished(102, 'ss1', 110_000), finished(102, 'ss2', 190_000),
    finished(103, 'ss1', 90_000), running(103, 'ss2'),
    dnf(104, 'ss1'), finished(104, 'ss2', 180_000),
    finished(105, 'ss1', 100_000), finished(105, 'ss2', 210_000),
  ];
  const c = overallClassification(event, [ss1, ss2, ss3], entries, results, now);

  it('counts the stages any entry has started, in running order', () => {
    expect(c.kind).toBe('overall');
    expect(c.stages.map((s) => s.id)).toEqual(['ss1', 'ss2']);
  });

  it('ranks the entries that finished every counted stage by the sum of their totals, ties shared', () => {
    expect(c.rows.map((r) => [r.race_number, r.rank, r.tied, r.stages_finished, r.total_ms, r.penalty_ms, r.gap_to_leader_ms, r.gap_to_ahead_ms])).toEqual([
      [102, 1, false, 2, 300_000, 0, null, null],
      [101, 2, true, 2, 310_000, 10_000, 10_000, 10_000],
      [105, 2, true, 2, 310_000, 0, 10_000, 0],
    ]);
  });

  it('lists the others apart: most stages finished first, then by their time so far', () => {
    expect(c.incomplete.map((r) => [r.race_number, r.rank, r.stages_finished, r.total_ms, r.gap_to_leader_ms])).toEqual([
      [103, null, 1, 90_000, null],
      [104, null, 1, 180_000, null],
    ]);
  });

  it('classifies nobody before any stage has started', () => {
    const empty = overallClassification(event, [ss1, ss2], entries, [], now);
    expect(empty).toMatchObject({ stages: [], rows: [], incomplete: [] });
  });
});
