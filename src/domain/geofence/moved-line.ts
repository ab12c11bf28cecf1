import { bearing, distance, lineString, midpoint, point, transformTranslate } from '@turf/turf';
import type { LonLat } from '../course.ts';

/** Degrees in [0, 360). */
const normalised = (degrees: number): number => ((degrees % 360) + 360) % 360;
/** The angle between two bearings, in [0, 180]. */
const apart = (a: number, b: number): number => Math.abs(normalised(a - b + 180) - 180);

/** The middle of a line, between its ends: where it is when told "away from the start line". */
export const lineMiddle = (line: readonly LonLat[]): LonLat => midpoint(point([...line[0]!]), point([...line.at(-1)!])).geometry.coordinates as LonLat;

/**
 * The bearing across a timing line that points further along its stage: away from the stage's start line, or, for
 * the start line itself, towards its finish line (`from` and `towards` are those lines' middles). A timekeeper moves
 * a line "30 m further" without knowing which way the line was drawn.
 */
export function forwardAcross(line: readonly LonLat[], reference: { awayFrom: LonLat } | { towards: LonLat }): number {
  const along = bearing(point([...line[0]!]), point([...line.at(-1)!]));
  const target = 'towards' in reference ? reference.towards : reference.awayFrom;
  const toTarget = bearing(point([...lineMiddle(line)]), point([...target]));
  const [left, right] = [normalised(along - 90), normalised(along + 90)];
  const towards = apart(right, toTarget) <= apart(left, toTarget) ? right : left;
  return 'towards' in reference ? towards : normalised(towards + 180);
}

/** The line moved `metres` across itself along `bearingDeg` (negative: the other way), its shape and length kept. */
export function movedLine(line: readonly LonLat[], metres: number, bearingDeg: number): LonLat[] {
  if (metres === 0) return line.map((p) => [...p] as LonLat);
  return transformTranslate(lineString(line.map((p) => [...p])), metres, bearingDeg, { units: 'meters' }).geometry.coordinates as LonLat[];
}

/** How far `moved` lies from `line` along `bearingDeg`, in metres (negative: the other way): the inverse of movedLine. */
export function movedBy(line: readonly LonLat[], moved: readonly LonLat[], bearingDeg: number): number {
  const from = point([...lineMiddle(line)]);
  const to = point([...lineMiddle(moved)]);
  const metres = distance(from, to, { units: 'meters' });
  if (metres === 0) return 0;
  return Math.cos((apart(bearing(from, to), bearingDeg) * Math.PI) / 180) * metres;
}

/** The least a line may be moved either way, whatever the stage: a loop's start and finish lines may be metres apart. */
export const MIN_MOVE_LIMIT_M = 5_000;

/**
 * How far a timekeeper may move a line of a stage: the stage's length as the crow flies, from its start line's middle
 * to its finish line's, in whole metres, and MIN_MOVE_LIMIT_M at least. Further is a typo (a digit too many), which
 * put a tester's start line in Antarctica and timed the stage with no start at all.
 */
export const moveLimit = (start: readonly LonLat[], finish: readonly LonLat[]): number =>
  Math.max(MIN_MOVE_LIMIT_M, Math.ceil(distance(point([...lineMiddle(start)]), point([...lineMiddle(finish)]), { units: 'meters' })));
