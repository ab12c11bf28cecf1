import { describe, expect, it } from 'vitest';
import type { Course } from '../../../../src/domain/course.ts';
import { applyCandidateLayout, CandidateLayoutError } from '../../../../src/jobs/replay/candidate-layout.ts';
import type { CandidateGeofence } from '../../../../src/jobs/replay/replay-params.ts';

const ss1 = '11111111-1111-4111-8111-111111111111';
const ss2 = '22222222-2222-4222-8222-222222222222';
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const ring = [[0, 0], [1, 0], [1, 1], [0, 0]] as [number, number][];
const course: Course = {
  stages: [ss1, ss2].map((s, i) => ({ id: s, eventId: 'e', name: `SS${i + 1}`, sortOrder: i + 1, opensAt: 0, closesAt: 1 })),
  gates: [
    { id: id(1), stageId: ss1, kind: 'start_line', name: 'SS1 start', line: [[0, 0], [0, 1]], directionDeg: 90, sortOrder: null },
    { id: id(2), stageId: ss1, kind: 'split_line', name: 'SS1 split 1', line: [[1, 0], [1, 1]], directionDeg: 90, sortOrder: 1 },
    { id: id(3), stageId: ss1, kind: 'finish_line', name: 'SS1 finish', line: [[2, 0], [2, 1]], directionDeg: 90, sortOrder: null },
    { id: id(4), stageId: ss2, kind: 'finish_line', name: 'SS2 finish', line: [[5, 0], [5, 1]], directionDeg: null, sortOrder: null },
  ],
  zones: [{ id: id(5), eventId: 'e', stageId: ss1, kind: 'speed_zone', name: 'Village', polygon: [ring], speedLimitKmh: 50 }],
  waypoints: [{ id: id(6), stageId: ss1, name: 'WP1', location: [1.5, 0.5], toleranceMeters: 90, sortOrder: 1, penaltyMs: 300_000 }],
};
const finish = (extra: Partial<CandidateGeofence> = {}): CandidateGeofence => ({
  stage: ss1, name: 'SS1 finish (moved)', kind: 'finish_line', geometry: { type: 'LineString', coordinates: [[2.5, 0], [2.5, 1]] }, direction_deg: 90, ...extra,
});

describe('applyCandidateLayout', () => {
  it('replaces every stored geofence of the stages the candidate names, and only those', () => {
    const next = applyCandidateLayout(course, [finish()]);
    expect(next.gates.map((g) => g.name)).toEqual(['SS2 finish', 'SS1 finish (moved)']);
    expect(next.zones).toEqual([]);
    expect(next.waypoints).toBe(course.waypoints);
    expect(next.stages).toBe(course.stages);
  });

  it('gives a row without an id the id of the stored geofence it stands for, so its crossings pair up', () => {
    const next = applyCandidateLayout(course, [finish(), { stage: ss1, name: 'Village', kind: 'speed_zone', geometry: { type: 'Polygon', coordinates: [ring] }, speed_limit_kmh: 30 }]);
    expect(next.gates.find((g) => g.stageId === ss1)).toEqual({
      id: id(3), stageId: ss1, kind: 'finish_line', name: 'SS1 finish (moved)', line: [[2.5, 0], [2.5, 1]], directionDeg: 90, sortOrder: null,
    });
    expect(next.zones).toEqual([{ id: id(5), eventId: 'e', stageId: ss1, kind: 'speed_zone', name: 'Village', polygon: [ring], speedLimitKmh: 30 }]);
  });

  it('keeps explicit ids, and gives a new line a stable id of its own', () => {
    expect(applyCandidateLayout(course, [finish({ id: id(9) })]).gates.at(-1)!.id).toBe(id(9));
    const split2 = finish({ kind: 'split_line', sort_order: 2, name: 'SS1 split 2' });
    const [a, b] = [applyCandidateLayout(course, [split2]), applyCandidateLayout(course, [split2])].map((c) => c.gates.at(-1)!.id);
    expect(a).toBe(b);
    expect([id(1), id(2), id(3), id(4)]).not.toContain(a);
  });

  it('refuses a stage outside the replayed event, and in apply mode a line that is not stored', () => {
    expect(() => applyCandidateLayout(course, [finish({ stage: id(77) })])).toThrow(CandidateLayoutError);
    const split2 = finish({ kind: 'split_line', sort_order: 2, name: 'SS1 split 2' });
    expect(() => applyCandidateLayout(course, [split2], { requireStoredLines: true })).toThrow(/apply needs stored lines/);
    expect(applyCandidateLayout(course, [finish()], { requireStoredLines: true }).gates).toHaveLength(2);
  });

  it('does not change the course it is given', () => {
    const copy = structuredClone(course);
    applyCandidateLayout(course, [finish()]);
    expect(course).toEqual(copy);
  });
});
