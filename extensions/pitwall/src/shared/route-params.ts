import { InvalidPayloadError } from '@directus/errors';
import { z } from 'zod';
import { cutShort } from '../../../../src/domain/cut-short';
import { issuesRefusal } from './runs';
import { recordId } from '../../../../src/domain/uuid-text.ts';

const uuid = recordId();

/**
 * The 400 for a URL parameter that must be a uuid and is not (`/pitwall/replay/abc`), naming it as the run-end route
 * names its `run`: `{reason: "run: Invalid UUID", issues: [{path: ["run"], ...}]}`. Left to Directus, such an id
 * gets a 403 (its key check) or Postgres's 500 (a filter on a uuid column); null when the parameter is a uuid.
 */
export function badUuidParam(name: string, value: unknown): InstanceType<typeof InvalidPayloadError> | null {
  const parsed = uuid.safeParse(value);
  if (parsed.success) return null;
  return issuesRefusal(parsed.error.issues.map((issue) => ({ ...issue, path: [name] })));
}

/** A 400 naming a query parameter, as badUuidParam names a path parameter. */
function badQuery(name: string, message: string): InstanceType<typeof InvalidPayloadError> {
  return issuesRefusal([{ code: 'custom', path: [name], message }]);
}

/** `?force=true|false` (absent: false), or the 400 naming it: "maybe" was read as false without a word. */
export function queryFlag(name: string, value: unknown): { value: boolean; error: null } | { value: null; error: InstanceType<typeof InvalidPayloadError> } {
  if (value === undefined || value === 'false') return { value: false, error: null };
  if (value === 'true') return { value: true, error: null };
  return { value: null, error: badQuery(name, `expected true or false, got ${cutShort(JSON.stringify(value), 40)}`) };
}

/** `?limit=N`, a whole number from 1 to `max` (absent: `fallback`), or the 400 naming it: -1 gave one row, 0 twenty. */
export function queryCount(name: string, value: unknown, fallback: number, max: number): { value: number; error: null } | { value: null; error: InstanceType<typeof InvalidPayloadError> } {
  if (value === undefined) return { value: fallback, error: null };
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (n >= 1 && n <= max) return { value: n, error: null };
  return { value: null, error: badQuery(name, `expected a whole number from 1 to ${max}, got ${cutShort(JSON.stringify(value), 40)}`) };
}

/** The header a client names a request with, so that sending it again does not start a second run. */
export const REQUEST_KEY_HEADER = 'Idempotency-Key';
// Visible ASCII, as the Idempotency-Key draft's keys (a UUID, a hash) are; the quotes of a structured-field string
// (`"8e03978e-..."`) are taken off.
const requestKey = z.string().regex(/^[\x21-\x7e]{1,255}$/, 'expected 1 to 255 visible ASCII characters (for example a UUID)');

/** The request's key (null without the header), or the 400 naming the header. */
export function requestKeyOf(value: string | undefined): { key: string | null; error: null } | { key: null; error: InstanceType<typeof InvalidPayloadError> } {
  if (value === undefined) return { key: null, error: null };
  const parsed = requestKey.safeParse(/^"[^"]*"$/.test(value) ? value.slice(1, -1) : value);
  if (parsed.success) return { key: parsed.data, error: null };
  return { key: null, error: issuesRefusal(parsed.error.issues.map((issue) => ({ ...issue, path: [REQUEST_KEY_HEADER] }))) };
}
