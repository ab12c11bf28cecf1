import { describe, expect, it } from 'vitest';
import { standingChanges, stageStandings } from '../../../extensions/pitwall/src/shared/stage-standings.ts';

const row = (id: string, status: string, total: number | null, extra: Record<string, unknown> = {}) => ({
  id, entry: `entry-${id}`, stage: 's1', status, started_at: '2026-11-28T10:00:00.000Z', finished_at: null,
  elapsed_ms: total, penalty_ms: 0, total_ms: total, rank: null, gap_ms: null, ...extra,
});

describe('the standings the bundle stores (rank, gap to the leader)', () => {
  it('ranks by total with ties sharing a rank, and gives each finisher its gap to the leader', () => {
    const standings = stageStandings([row('a', 'finished', 100_000), row('b', 'finished', 101_500), row('c', 'finished', 101_500), row('d', 'finished', 103_000)]);
    expect(Object.fromEntries(standings)).toEqual({
      a: { rank: 1, gapMs: null },
      b: { rank: 2, gapMs: 1_500 },
      c: { rank: 2, gapMs: 1_500 },
      d: { rank: 4, gapMs: 3_000 },
    });
  });

  it('gives running and DNF entries neither rank nor gap', () => {
    const standings = stageStandings([row('a', 'finished', 100_000), row('r', 'running', null), row('x', 'dnf', null)]);
    expect(standings.get('r')).toEqual({ rank: null, gapMs: null });
    expect(standings.get('x')).toEqual({ rank: null, gapMs: null });
  });

  it('reads numbers as Directus or pg return them (strings too) and counts penalties in the total', () => {
    const standings = stageStandings([row('a', 'finished', 100_000), row('b', 'finished', 99_000, { elapsed_ms: '89000', penalty_ms: '10000', total_ms: '99000' })]);
    expect(standings.get('b')).toEqual({ rank: 1, gapMs: null });
    expect(standings.get('a')).toEqual({ rank: 2, gapMs: 1_000 });
  });

  it('writes only what moved: a penalty on the leader moves every gap, a new last car only its own row', () => {
    const stored = [row('a', 'finished', 100_000, { rank: 1 }), row('b', 'finished', 101_000, { rank: 2, gap_ms: 1_000 }), row('c', 'finished', 102_000, { rank: 3, gap_ms: '2000' })];
    const previous = new Map(stored.map((r) => [r.id, r]));
    expect(standingChanges(previous, stageStandings(stored)).size).toBe(0);

    const penalised = stored.map((r) => (r.id === 'a' ? { ...r, penalty_ms: 500, total_ms: 100_500 } : r));
    expect(Object.fromEntries(standingChanges(previous, stageStandings(penalised)))).toEqual({ b: { gap_ms: 500 }, c: { gap_ms: 1_500 } });

    const overtaken = stored.map((r) => (r.id === 'a' ? { ...r, penalty_ms: 1_500, total_ms: 101_500 } : r));
    expect(Object.fromEntries(standingChanges(previous, stageStandings(overtaken)))).toEqual({
      a: { rank: 2, gap_ms: 500 },
      b: { rank: 1, gap_ms: null },
      c: { gap_ms: 1_000 },
    });

    const last = [...stored, row('d', 'finished', 105_000)];
    expect(Object.fromEntries(standingChanges(previous, stageStandings(last)))).toEqual({ d: { rank: 4, gap_ms: 5_000 } });
  });
});
