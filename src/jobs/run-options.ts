/** Options of the replay and backfill Flow operations as a Flow hands them over (templated text, or JSON). */
export type RunOperationOptions = Record<string, unknown> & { wait?: boolean | string; wait_timeout_s?: number | string; window_hours?: number | string };

const listFields = new Set(['entries', 'devices']);
const controlFields = new Set(['wait', 'wait_timeout_s', 'window_hours']);

/** "a, b c" or ["a","b"] -> ["a","b"]; blank -> left out. */
function listOf(value: unknown): unknown {
  if (Array.isArray(value)) return value.length > 0 ? value : undefined;
  if (typeof value !== 'string') return value;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (trimmed.startsWith('[')) return JSON.parse(trimmed);
  return trimmed.split(/[\s,]+/).filter(Boolean);
}

/** The operation's options as a request body: blanks left out, lists split, JSON text parsed. */
export function bodyOfOptions(options: RunOperationOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [field, raw] of Object.entries(options)) {
    if (controlFields.has(field)) continue;
    let value = listFields.has(field) ? listOf(raw) : raw;
    if (typeof value === 'string') value = value.trim() === '' ? undefined : value.trim();
    if (field === 'geofences' && typeof value === 'string') value = JSON.parse(value);
    if (value !== undefined && value !== null) body[field] = value;
  }
  // A rolling window ("the last 72 hours") for Flows that run on events, where templates cannot do date math.
  const hours = Number(options.window_hours);
  if (body['from'] === undefined && body['to'] === undefined && Number.isFinite(hours) && hours > 0) {
    const now = Date.now();
    body['from'] = new Date(now - hours * 3600_000).toISOString();
    body['to'] = new Date(now).toISOString();
  }
  return body;
}
