import type { Xy } from './local-projection.ts';
import { orientation } from './orientation.ts';

/** Where two segments meet: `t` along the fix segment p→q, `u` along the gate segment a→b, both in 0..1. */
export interface SegmentIntersection {
  t: number;
  u: number;
}

export interface IntersectSegmentsOptions {
  /** Whether u = 1 (the fix segment passing exactly through b) counts; false for inner legs of a polyline gate. */
  includeGateEnd?: boolean;
}

/**
 * Where the fix segment p→q crosses the gate segment a→b, or null.
 *
 * Half-open rule on t: a crossing counts for t in (0, 1]. A fix lying exactly on the line belongs to the segment
 * that ends there (t = 1) and is not counted again by the next one (t = 0), so a track touching the line at a fix
 * yields one crossing. The test uses the sign of each fix's orientation, which is computed from the same numbers in
 * both segments, so the rule holds exactly, not just up to rounding. u is closed ([0, 1]) unless `includeGateEnd`
 * is false, which makes a polyline's shared vertex belong to one leg only. Collinear segments never cross: driving
 * along a line is not crossing it (the segment that reached the line already counted).
 */
export function intersectSegments(p: Xy, q: Xy, a: Xy, b: Xy, options: IntersectSegmentsOptions = {}): SegmentIntersection | null {
  const { includeGateEnd = true } = options;
  const sp = orientation(a, b, p);
  const sq = orientation(a, b, q);
  if (sp === 0) return null;
  if (sq !== 0 && sp > 0 === sq > 0) return null;
  const oa = orientation(p, q, a);
  const ob = orientation(p, q, b);
  if ((oa > 0 && ob > 0) || (oa < 0 && ob < 0) || (oa === 0 && ob === 0)) return null;
  if (ob === 0 && !includeGateEnd) return null;
  // oa === 0 would give -0 when the divisor is negative.
  return { t: sp / (sp - sq), u: oa === 0 ? 0 : oa / (oa - ob) };
}
