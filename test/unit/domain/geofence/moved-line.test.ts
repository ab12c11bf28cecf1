import { distance, length, lineString, point } from '@turf/turf';
import { describe, expect, it } from 'vitest';
import type { LonLat } from '../../../../src/domain/course.ts';
import { forwardAcross, MIN_MOVE_LIMIT_M, moveLimit, movedBy, movedLine } from '../../../../src/domain/geofence/moved-line.ts';

// A stage running north near Erfoud: the start line across the road, the finish line 2 km further north.
const start: LonLat[] = [[-4.2310, 31.4300], [-4.2290, 31.4300]];
const finishWestToEast: LonLat[] = [[-4.2310, 31.4480], [-4.2290, 31.4480]];
const finishEastToWest: LonLat[] = [...finishWestToEast].reverse();
const mid = (line: LonLat[]): LonLat => [(line[0]![0] + line[1]![0]) / 2, (line[0]![1] + line[1]![1]) / 2];
const northness = (bearing: number) => Math.cos((bearing * Math.PI) / 180);

describe('moving a timing line along its stage', () => {
  it('points further along the stage whichever way the line was drawn', () => {
    expect(northness(forwardAcross(finishWestToEast, { awayFrom: mid(start) }))).toBeCloseTo(1, 6);
    expect(northness(forwardAcross(finishEastToWest, { awayFrom: mid(start) }))).toBeCloseTo(1, 6);
    // The start line itself: towards the finish.
    expect(northness(forwardAcross([...start].reverse(), { towards: mid(finishWestToEast) }))).toBeCloseTo(1, 6);
    // A stage run southwards: forward is south.
    expect(northness(forwardAcross(start, { awayFrom: mid(finishWestToEast) }))).toBeCloseTo(-1, 6);
  });

  it('moves the line by the metres asked, its length kept, and tells how far a moved line lies', () => {
    const forward = forwardAcross(finishWestToEast, { awayFrom: mid(start) });
    for (const metres of [30, -12.5, 0]) {
      const moved = movedLine(finishWestToEast, metres, forward);
      expect(distance(point(mid(finishWestToEast)), point(mid(moved)), { units: 'meters' })).toBeCloseTo(Math.abs(metres), 1);
      expect(length(lineString(moved), { units: 'meters' })).toBeCloseTo(length(lineString(finishWestToEast), { units: 'meters' }), 2);
      expect(movedBy(finishWestToEast, moved, forward)).toBeCloseTo(metres, 1);
    }
    // Forward is north here: 30 m moves it north, away from the start.
    expect(movedLine(finishWestToEast, 30, forward)[0]![1]).toBeGreaterThan(finishWestToEast[0]![1]);
  });

  it('bounds a move by the stage\'s length from its start line to its finish line, 5 km at least', () => {
    // A stage 0.1° of longitude long at 31° N: about 9.5 km, whichever way the lines were drawn.
    const farFinish: LonLat[] = [[-4.1300, 31.4290], [-4.1300, 31.4310]];
    expect(moveLimit(start, farFinish)).toBe(Math.ceil(distance(point(mid(start)), point(mid(farFinish)), { units: 'meters' })));
    expect(moveLimit(start, [...farFinish].reverse())).toBe(moveLimit(start, farFinish));
    expect(moveLimit(start, farFinish)).toBeGreaterThan(9_000);
    // The 2 km stage, and a loop whose finish line is its start line: a few kilometres all the same.
    expect(moveLimit(start, finishWestToEast)).toBe(MIN_MOVE_LIMIT_M);
    expect(moveLimit(start, start)).toBe(MIN_MOVE_LIMIT_M);
  });
});
