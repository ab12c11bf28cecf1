import { z } from 'zod';

/**
 * Penalty rules are data (`penalty_formulas.params`), the math is here. Speeding brackets say, from how many
 * km/h over the limit, how much penalty each second (basis `time`) or each metre (basis `distance`) over costs.
 */
export const speedingParams = z.strictObject({
  basis: z.enum(['time', 'distance']),
  brackets: z
    .array(
      z.strictObject({
        over_kmh: z.number().min(0),
        penalty_ms_per_s: z.number().min(0).optional(),
        penalty_ms_per_m: z.number().min(0).optional(),
      }),
    )
    .min(1)
    .refine((brackets) => brackets.every((b, i) => i === 0 || b.over_kmh > brackets[i - 1]!.over_kmh), 'brackets must be sorted by over_kmh, ascending'),
});

export type SpeedingParams = z.infer<typeof speedingParams>;

/** Used when an event has no speeding formula: one second of penalty per second over the limit. */
export const defaultSpeedingParams: SpeedingParams = { basis: 'time', brackets: [{ over_kmh: 0, penalty_ms_per_s: 1000 }] };
