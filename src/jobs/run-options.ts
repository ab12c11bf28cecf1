/** Options of the replay and backfill Flow operations as a Flow hands them over (templated text, or JSON). */
export type RunOperationOptions = Record<string, unknown> & { wait?: boolean | string; wait_timeout_s?: number | string; window_hours?: number | string };

/** Options a run cannot be asked with (the Flow takes its reject path with the message, which names the option). */
export class RunParamsError extends Error {
  override name = 'RunParamsError';

  /** The message too, where the Flow hands the error on as `{{$last}}` (an Error's own JSON has neither). */
  toJSON(): { name: string; message: string } {
    return { name: this.name, message: this.message };
  }
}

const listFields = new Set(['entries', 'devices']);
const controlFields = new Set(['wait', 'wait_timeout_s', 'window_hours']);

/** How long `wait` waits for the run by default, and at most (a Flow run holds on to what it started meanwhile). */
export const DEFAULT_WAIT_TIMEOUT_S = 300;
export const MAX_WAIT_TIMEOUT_S = 86_400;

/** JSON text of an option, or a RunParamsError naming the option (a bare SyntaxError would not say which). */
function jsonOption(field: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RunParamsError(`Invalid options: ${field}: not valid JSON (${(error as Error).message})`);
  }
}

/** "a, b c" or ["a","b"] -> ["a","b"]; blank -> left out. */
function listOf(field: string, value: unknown): unknown {
  if (Array.isArray(value)) return value.length > 0 ? value : undefined;
  if (typeof value !== 'string') return value;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (trimmed.startsWith('[')) return jsonOption(field, trimmed);
  return trimmed.split(/[\s,]+/).filter(Boolean);
}

/**
 * The operation's `wait`: true or false, as the app's toggle gives it or as text from a template ("true", "false",
 * any case); blank, or a template that found nothing, is false. Anything else ("yes", "1") is a RunParamsError naming
 * the option before any run is queued: read as false, the Flow would go on before the run had ended.
 */
export function waitOption(options: RunOperationOptions): boolean {
  const raw = options.wait;
  if (raw === true || raw === false || raw === undefined || raw === null) return raw === true;
  const text = typeof raw === 'string' ? raw.trim().toLowerCase() : null;
  if (text === 'true') return true;
  if (text === 'false' || text === '' || (text !== null && NOTHING.has(text))) return false;
  throw new RunParamsError(`Invalid options: wait: expected true or false, got ${JSON.stringify(raw)}`);
}

/**
 * The operation's `wait_timeout_s` in milliseconds: blank, or no number (a template that gave nothing, "abc"), is the
 * default 300 s; a number is kept within 1 s and a day.
 */
export function waitTimeoutMs(options: RunOperationOptions): number {
  const raw = typeof options.wait_timeout_s === 'string' ? options.wait_timeout_s.trim() : options.wait_timeout_s;
  const seconds = raw === undefined || raw === null || raw === '' ? NaN : Number(raw);
  if (!Number.isFinite(seconds)) return DEFAULT_WAIT_TIMEOUT_S * 1000;
  return Math.min(MAX_WAIT_TIMEOUT_S, Math.max(1, seconds)) * 1000;
}

/** What Directus renders a template that found nothing as (`{{$trigger.body.entries}}` of a body without entries). */
const NOTHING = new Set(['undefined', 'null']);

/**
 * The operation's options as a request body: blanks (and templates that found nothing) left out, lists split, JSON
 * text parsed (RunParamsError if it is not JSON).
 */
export function bodyOfOptions(options: RunOperationOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [field, raw] of Object.entries(options)) {
    if (controlFields.has(field) || (typeof raw === 'string' && NOTHING.has(raw.trim()))) continue;
    let value = listFields.has(field) ? listOf(field, raw) : raw;
    if (typeof value === 'string') value = value.trim() === '' ? undefined : value.trim();
    if (field === 'geofences' && typeof value === 'string') value = jsonOption(field, value);
    if (value !== undefined && value !== null) body[field] = value;
  }
  // A rolling window ("the last 72 hours") for Flows that run on events, where templates cannot do date math.
  const hours = body['from'] === undefined && body['to'] === undefined ? windowHours(options.window_hours) : null;
  if (hours !== null) {
    const now = Date.now();
    body['from'] = new Date(now - hours * 3600_000).toISOString();
    body['to'] = new Date(now).toISOString();
  }
  return body;
}

/** A century of hours: a window reaching before year 1 would be refused as `from`, which the Flow's author never set. */
const MAX_WINDOW_HOURS = 876_600;

/**
 * The operation's `window_hours`: null when blank (or a template that found nothing); a number of hours above 0 and
 * at most a century; anything else a RunParamsError naming the option (it was reported as a `from` and `to` the Flow
 * never set).
 */
function windowHours(raw: unknown): number | null {
  const text = typeof raw === 'string' ? raw.trim() : raw;
  if (text === undefined || text === null || text === '' || (typeof text === 'string' && NOTHING.has(text))) return null;
  // Decimal hours only: Number() would read "0x10" as 16.
  const hours = typeof text === 'number' ? text : typeof text === 'string' && /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!(hours > 0 && hours <= MAX_WINDOW_HOURS)) {
    throw new RunParamsError(`Invalid options: window_hours: expected a number of hours above 0 and at most ${MAX_WINDOW_HOURS.toLocaleString('en')} (a century), got ${JSON.stringify(raw)}`);
  }
  return hours;
}
