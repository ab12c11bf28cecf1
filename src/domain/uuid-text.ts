import { z } from 'zod';

/** A uuid as Directus writes ids (8-4-4-4-12 hex digits, either case): what the requests and guards take as an id. */
export const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID_TEXT.test(value);

/**
 * The zod schema of a record id, the same check as UUID_TEXT. Not `z.uuid()`: that also wants an RFC version digit, so
 * it refused ids that Directus and Postgres store and serve, such as `00000000-0000-0000-0000-000000000001` from a
 * system the race was imported from.
 */
export const recordId = () => z.guid({ error: 'Invalid UUID' });
