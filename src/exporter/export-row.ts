import type { RawAttributes } from '../domain/position.ts';
import { exactBigIntegers } from '../domain/io/exact-big-integers.ts';
import { hasLoneSurrogate } from '../domain/io/storable-text.ts';
import { isoTimeMs } from '../domain/iso-time.ts';
import { MAX_PAYLOAD_CHARS } from '../domain/read-well-formed-entry.ts';

/**
 * One telemetry stream entry as the analytics export stores it, in the Parquet files and in ClickHouse: the
 * Position's typed fields, the raw IO as received (JSON text), and the decoded attributes where the device's IO
 * mapping is known.
 */
export interface ExportRow {
  /** The entry's id in the telemetry stream: the key that makes every sink exactly-once. */
  streamId: string;
  deviceId: string;
  /** GPS time, epoch milliseconds (stored as microseconds). */
  ts: number;
  latitude: number;
  longitude: number;
  altitude: number;
  speed: number;
  heading: number;
  satellites: number;
  priority: number;
  codec: string;
  /** Raw IO elements keyed by IO id, JSON text, sentinels kept. */
  attributes: string;
  /** Named, scaled values as JSON text; null when the device has no model or its model no IO mapping. */
  decoded: string | null;
  mappingVersion: string | null;
}

/**
 * Decoded attributes of one fix, as JSON text with the label of the mapping that decoded them. `exact`: see
 * AttributesJson.fromRaw.
 */
export type DecodeAttributes = (deviceId: string, raw: RawAttributes, exact?: () => RawAttributes) => { json: string; mappingVersion: string } | null;

/**
 * A stream entry checked for export. The typed columns are read from `payload` by DuckDB when the batch is written
 * (in C++, off the JavaScript thread): here it is only checked that they can be.
 */
export interface ExportEntry {
  streamId: string;
  deviceId: string;
  /** GPS time, epoch milliseconds: it names the entry's partition. */
  ts: number;
  codec: string;
  /** The Position JSON as received. */
  payload: string;
  decoded: string | null;
  mappingVersion: string | null;
}

export type ExportRead = { ok: true; entry: ExportEntry } | { ok: false; reason: string };

/** Fix times a `date=YYYY-MM-DD` partition can name: from 1970 to the end of year 9999 (UTC). */
const TIME_END = Date.UTC(10_000, 0, 1);
const NUMBER_FIELDS = ['latitude', 'longitude', 'altitude', 'angle', 'speed', 'satellites', 'priority'] as const;
/** What the files' typed columns are read from (ParquetBatch). */
const COLUMN_FIELDS = [...NUMBER_FIELDS, 'attributes'] as const;

const isIntegerIn = (value: unknown, min: number, max: number): boolean => Number.isInteger(value) && (value as number) >= min && (value as number) <= max;

/**
 * The checked entry of one stream entry, or why it has none. Analysts want the telemetry as the trackers sent it, odd
 * values included (a fix at 0,0, a speed of 300), so this asks only what the columns need: a JSON payload whose device
 * agrees with the entry's, a time, finite numbers and an attributes object. What the processor refuses besides
 * (fixes from the future, values Postgres cannot hold) it dead-letters with the reason; the export keeps it.
 */
export function readExportEntry(streamId: string, fields: Record<string, string> | null, decode: DecodeAttributes): ExportRead {
  if (!fields) return { ok: false, reason: 'entry content was trimmed from the stream' };
  const { device_id: deviceId, codec, payload } = fields;
  if (!deviceId || !codec || payload === undefined) return { ok: false, reason: 'missing device_id, codec or payload field' };
  // As the processor bounds it: one entry of hundreds of megabytes must not hold a batch, and the process, hostage.
  if (payload.length > MAX_PAYLOAD_CHARS) return { ok: false, reason: `payload: longer than ${MAX_PAYLOAD_CHARS.toLocaleString('en')} characters (${payload.length.toLocaleString('en')})` };
  let p: Record<string, unknown>;
  try {
    p = JSON.parse(payload) as Record<string, unknown>;
  } catch (error) {
    return { ok: false, reason: `payload: not JSON (${(error as Error).message})` };
  }
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return { ok: false, reason: 'payload: not a JSON object' };
  if (p.device_id !== deviceId) return { ok: false, reason: `device_id: field "${deviceId}" differs from payload.device_id` };
  const ts = typeof p.timestamp === 'string' ? isoTimeMs(p.timestamp) : Number.NaN;
  if (!(ts >= 0 && ts < TIME_END)) return { ok: false, reason: 'payload.timestamp: not a real calendar time from 1970 to 9999 (ISO-8601, with a zone)' };
  for (const field of NUMBER_FIELDS) {
    const value = p[field];
    if (typeof value !== 'number' || !Number.isFinite(value)) return { ok: false, reason: `payload.${field}: not a finite number` };
  }
  if (!isIntegerIn(p.satellites, 0, 32_767)) return { ok: false, reason: 'payload.satellites: not an integer from 0 to 32767' };
  if (!isIntegerIn(p.priority, 0, 255)) return { ok: false, reason: 'payload.priority: not an integer from 0 to 255' };
  const attributes = p.attributes;
  if (typeof attributes !== 'object' || attributes === null || Array.isArray(attributes)) return { ok: false, reason: 'payload.attributes: not an object' };
  // DuckDB reads the payload again when the batch is written, and refuses a lone surrogate escape ("\ud800") that
  // JSON.parse takes: kept, one such entry would fail its batch on every retry and stop the export behind it. In the
  // attributes the processor refuses it too; elsewhere (a field of the sender's own, which no column holds) the
  // processor stores the fix, and so does the export, from the payload without that field.
  let exported = payload;
  if (payload.includes('\\u') && holdsLoneSurrogate(p)) {
    if (holdsLoneSurrogate(attributes)) return { ok: false, reason: 'payload.attributes: a string with a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape)' };
    exported = columnsOnly(payload);
  }
  // Decoded as the processor decodes it: a plain integer past 2^53 by the digits sent (see exactBigIntegers). Only the
  // decoder looks for one, in the pass it makes anyway: a pass of its own cost a microsecond or two a row.
  const decoded = decode(deviceId, attributes as RawAttributes, () => exactBigIntegers(payload));
  return { ok: true, entry: { streamId, deviceId, ts, codec, payload: exported, decoded: decoded?.json ?? null, mappingVersion: decoded?.mappingVersion ?? null } };
}

/** The payload with only the fields the columns are read from, its numbers written back with the digits sent. */
function columnsOnly(payload: string): string {
  const p = JSON.parse(payload, (_key, value: unknown, context?: { source?: string }) =>
    typeof value === 'number' && context?.source !== undefined ? rawJson(context.source) : value,
  ) as Record<string, unknown>;
  return JSON.stringify(Object.fromEntries(COLUMN_FIELDS.map((field) => [field, p[field]])));
}

/** JSON.rawJSON (Node 21 and later; not yet in TypeScript's lib): a value JSON.stringify writes as the text given. */
const rawJson = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

/** Whether a key or string anywhere in a parsed JSON value is not well-formed UTF-16. Iterative: nesting is the sender's. */
function holdsLoneSurrogate(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'string') {
      if (hasLoneSurrogate(item)) return true;
    } else if (typeof item === 'object' && item !== null) {
      for (const key in item) {
        if (hasLoneSurrogate(key)) return true;
        stack.push((item as Record<string, unknown>)[key]);
      }
    }
  }
  return false;
}
