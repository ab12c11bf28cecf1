import { parseISO } from 'date-fns';
import { z } from 'zod';
import { storableTime } from '../../../../src/jobs/storable-time.ts';

/**
 * The epoch ms Directus stores for a `timestamp` field's text, or NaN when it would store no time: its date helper
 * hands the text to date-fns's parseISO (the version Directus 11.17 pins), and Postgres stores the Date that comes
 * out; an Invalid Date it refuses with a 500. A time without a zone is read in the server's zone, as Directus reads it.
 */
export const directusTimestampMs = (text: string): number => parseISO(text).getTime();

/** The epoch ms of a timestamp field's value: a stored row's Date, or written text as Directus reads it; NaN otherwise. */
export const timestampValueMs = (value: unknown): number =>
  value instanceof Date ? value.getTime() : typeof value === 'string' ? directusTimestampMs(value) : Number.NaN;

// The bundle's zod and the domain's may be two copies (extensions/pitwall/node_modules): storableTime only refines.
const storable = storableTime(z.string() as unknown as Parameters<typeof storableTime>[0]);

/**
 * Why Postgres cannot keep this time as the time it is, or null: before year 1 (the replay route's rule, storableTime),
 * which the driver writes as a year BC. `ms` is an epoch time; NaN is not this check's matter.
 */
export function beforeYearOne(ms: number): string | null {
  if (Number.isNaN(ms)) return null;
  const checked = storable.safeParse(new Date(ms).toISOString());
  return checked.success ? null : (checked.error.issues[0]?.message ?? 'must be in year 1 or later');
}
