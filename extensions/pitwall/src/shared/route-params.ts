import { InvalidPayloadError } from '@directus/errors';
import { z } from 'zod';
import { describeIssues, type ParamIssue } from './runs';

const uuid = z.uuid();

/**
 * The 400 for a URL parameter that must be a uuid and is not (`/pitwall/replay/abc`), naming it as the run-end route
 * names its `run`: `{reason: "run: Invalid UUID", issues: [{path: ["run"], ...}]}`. Left to Directus, such an id
 * gets a 403 (its key check) or Postgres's 500 (a filter on a uuid column); null when the parameter is a uuid.
 */
export function badUuidParam(name: string, value: unknown): InstanceType<typeof InvalidPayloadError> | null {
  const parsed = uuid.safeParse(value);
  if (parsed.success) return null;
  const issues: ParamIssue[] = parsed.error.issues.map((issue) => ({ ...issue, path: [name] }));
  return new InvalidPayloadError({ reason: describeIssues(issues), issues } as never);
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
  const issues: ParamIssue[] = parsed.error.issues.map((issue) => ({ ...issue, path: [REQUEST_KEY_HEADER] }));
  return { key: null, error: new InvalidPayloadError({ reason: describeIssues(issues), issues } as never) };
}
