import type { Xy } from './local-projection.ts';

function cross(a: Xy, b: Xy, c: Xy): number {
  return (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
}

/**
 * Twice the signed area of the triangle (a, b, c): positive when c lies left of a→b, zero when collinear.
 * The endpoints are taken in a canonical order and the sign flipped back, so that
 * orientation(a, b, c) === -orientation(b, a, c) bit for bit: a gate drawn in either direction then yields
 * identical crossing times, and a point shared by two segments is classified identically by both.
 */
export function orientation(a: Xy, b: Xy, c: Xy): number {
  const swapped = a.x > b.x || (a.x === b.x && a.y > b.y);
  // `+ 0` turns -0 into 0 so callers can compare with === 0 and tests with toEqual.
  return (swapped ? -cross(b, a, c) : cross(a, b, c)) + 0;
}
