import type { Xy } from './local-projection.ts';
import { orientation } from './orientation.ts';

function onEdge(point: Xy, a: Xy, b: Xy): boolean {
  return (
    orientation(a, b, point) === 0 &&
    point.x >= Math.min(a.x, b.x) && point.x <= Math.max(a.x, b.x) &&
    point.y >= Math.min(a.y, b.y) && point.y <= Math.max(a.y, b.y)
  );
}

/** Even-odd ray cast to +x; the caller has already ruled out the boundary. */
function insideRing(point: Xy, ring: readonly Xy[]): boolean {
  let inside = false;
  for (let i = 0; i + 1 < ring.length; i++) {
    const a = ring[i]!;
    const b = ring[i + 1]!;
    if (a.y > point.y !== b.y > point.y && point.x < a.x + ((point.y - a.y) * (b.x - a.x)) / (b.y - a.y)) inside = !inside;
  }
  return inside;
}

/**
 * Whether a point lies in a polygon with holes (outer ring first, each ring closed). The boundary, holes' included,
 * counts as inside, as in turf's booleanPointInPolygon by default: a fix exactly on the line has entered.
 */
export function pointInZone(point: Xy, rings: readonly (readonly Xy[])[]): boolean {
  for (const ring of rings) {
    for (let i = 0; i + 1 < ring.length; i++) {
      if (onEdge(point, ring[i]!, ring[i + 1]!)) return true;
    }
  }
  const [outer, ...holes] = rings;
  if (outer === undefined || !insideRing(point, outer)) return false;
  return !holes.some((hole) => insideRing(point, hole));
}
