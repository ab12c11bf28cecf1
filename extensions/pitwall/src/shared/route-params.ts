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
