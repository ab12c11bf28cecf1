import type { Fix } from '../course.ts';

/**
 * Time and speed at parameter t (0..1) along the segment between two fixes. The time is rounded to the nearest
 * millisecond (halves up) because crossings are stored with millisecond precision; with integer fix times it always
 * lies within [prev.ts, cur.ts]. Speed is linear between the two fixes' speeds and is not rounded.
 */
export function interpolateFix(prev: Fix, cur: Fix, t: number): { at: number; speedKmh: number } {
  return {
    at: Math.round(prev.ts + t * (cur.ts - prev.ts)),
    speedKmh: prev.speedKmh + t * (cur.speedKmh - prev.speedKmh),
  };
}
