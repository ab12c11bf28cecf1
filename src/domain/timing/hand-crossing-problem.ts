import { cutShort } from '../cut-short.ts';
import { isoTimeMs } from '../iso-time.ts';

export interface HandCrossingProblem {
  field: 'crossedAt';
  message: string;
}

/** A date and time as people and the app write one: seconds and zone optional, `T` or a space between. */
const WRITTEN_TIME = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * What is wrong with a crossing time that an official writes by hand (a correction of `crossed_at`), or null. It must
 * be a real date and time of the calendar: Directus hands anything else to Postgres and answers 500. Without a zone
 * Directus reads it in its server's zone, as it does for its own app. Left out or null: not this check's matter
 * (Directus refuses the null itself).
 */
export function handCrossingProblem(write: { crossedAt?: unknown }): HandCrossingProblem | null {
  const { crossedAt } = write;
  if (crossedAt === undefined || crossedAt === null) return null;
  if (typeof crossedAt === 'string' && isRealTime(crossedAt.trim())) return null;
  return { field: 'crossedAt', message: `crossedAt must be a date and time such as 2026-03-14T08:00:00.705Z, got ${cutShort(String(JSON.stringify(crossedAt)), 40)}` };
}

function isRealTime(text: string): boolean {
  const parts = WRITTEN_TIME.exec(text);
  if (!parts) return false;
  const [, date, minutes, seconds, zone] = parts;
  return !Number.isNaN(isoTimeMs(`${date}T${minutes}${seconds ?? ':00'}${zone ?? 'Z'}`));
}
