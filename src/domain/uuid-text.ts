/** A uuid as Directus writes ids (8-4-4-4-12 hex digits, either case): what the requests and guards take as an id. */
export const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID_TEXT.test(value);
