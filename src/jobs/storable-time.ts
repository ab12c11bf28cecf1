import type { z } from 'zod';

/** 0001-01-01T00:00:00Z: Postgres has no year 0 (`0000-01-01` is refused), and zod's ISO check stops at year 9999. */
const earliest = Date.parse('0001-01-01T00:00:00Z');

/**
 * An ISO-8601 time a run's range may use: one that Postgres stores as a timestamptz. The ISO check alone takes year
 * 0 (`0000-01-01T00:00:00Z`), which Postgres refuses only once the run reads with it: a failed run instead of a 400
 * naming the field. The latest time zod takes (9999-12-31, any offset) Postgres holds.
 */
export function storableTime<T extends z.ZodType<string>>(iso: T) {
  // Only about a time the ISO check took: text that is no time (NaN) gets that check's issue alone.
  return iso.refine((value) => !(Date.parse(value) < earliest), { message: 'must be in year 1 or later (0001-01-01T00:00:00Z): Postgres stores no earlier time', abort: true });
}
