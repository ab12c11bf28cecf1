import type { SpeedingParams } from './penalty-formula.ts';

/** A stretch driven inside a speed zone: how long, how far, how fast on average. */
export interface SpeedExposure {
  durationMs: number;
  distanceM: number;
  speedKmh: number;
}

/**
 * The penalty for one stretch: the bracket is chosen by how far over the limit it was driven, then its rate is
 * applied to the time or the distance of the stretch. Below the limit nothing is owed.
 */
export function speedingPenalty(exposure: SpeedExposure, limitKmh: number, params: SpeedingParams): number {
  const over = exposure.speedKmh - limitKmh;
  if (over <= 0) return 0;
  let bracket = null;
  for (const candidate of params.brackets) if (over > candidate.over_kmh) bracket = candidate;
  if (!bracket) return 0;
  switch (params.basis) {
    case 'time':
      return Math.round((exposure.durationMs / 1000) * (bracket.penalty_ms_per_s ?? 0));
    case 'distance':
      return Math.round(exposure.distanceM * (bracket.penalty_ms_per_m ?? 0));
    default: {
      const never: never = params.basis;
      throw new Error(`unknown speeding basis ${String(never)}`);
    }
  }
}
