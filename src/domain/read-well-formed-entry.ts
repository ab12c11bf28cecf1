import { isBase64 } from './io/read-raw-io.ts';
import { isoTimeMs } from './iso-time.ts';
import type { Position, RawAttributes } from './position.ts';

/**
 * The hand-written fast path of parseStreamEntry. Checking every entry with the zod schemas cost about a quarter of
 * the processor's CPU, and almost every entry is well formed; so the common shape is checked here by hand, and
 * anything this check does not accept goes to the schemas, which stay the source of truth for what is wrong.
 * It must accept only what the schemas accept (same patterns, same ranges) and build the same Position.
 */

export const DEVICE_ID = /^[0-9A-Za-z_-]{1,64}$/;
export const IO_ID = /^\d{1,5}$/;
export const BIGINT_TEXT = /^-?\d{1,20}$/;
/** 2^64 - 1 and 2^63, in digits: texts of as many digits compare as the numbers do. */
const UINT64_MAX_DIGITS = '18446744073709551615';
const INT64_MIN_DIGITS = '9223372036854775808';

/**
 * A `__bigint` text: a decimal integer that a 64-bit IO element holds, read signed or unsigned (-2^63 to 2^64 - 1).
 * By its digits, without BigInt: the processor reads one or two such values in most fixes (an ICCID has 19 digits).
 */
export function isBigintText(text: string): boolean {
  if (!BIGINT_TEXT.test(text)) return false;
  const negative = text.charCodeAt(0) === 0x2d;
  const limit = negative ? INT64_MIN_DIGITS : UINT64_MAX_DIGITS;
  let start = negative ? 1 : 0;
  while (start < text.length - 1 && text.charCodeAt(start) === 0x30) start++; // leading zeros
  const digits = text.length - start;
  return digits < limit.length || (digits === limit.length && text.slice(start) <= limit);
}

/** Whether a raw IO number is past the integers a double holds exactly (JSON.parse has rounded it then). */
export const isRoundedInteger = (value: number): boolean => value > Number.MAX_SAFE_INTEGER || value < -Number.MAX_SAFE_INTEGER;

/**
 * What the positions table can hold, so that an entry it would refuse is dead-lettered here with its reason instead
 * of failing its batch. Fix times from 2000-01-01 to the end of 2099 (UTC): a tracker without a GPS time reports
 * 1970 or year 0, which Postgres refuses. Altitude in metres within what a tracker reports on its two bytes, read
 * signed or unsigned. altitude, angle and speed are `real` (float4): besides overflow, Postgres refuses a nonzero
 * value that rounds to zero there; anything nonzero below float4's smallest normal magnitude is refused here, which
 * no tracker reports.
 */
export const FIX_TIME_MIN = Date.UTC(2000, 0, 1);
export const FIX_TIME_END = Date.UTC(2100, 0, 1);
export const ALTITUDE_MIN = -32_768;
export const ALTITUDE_MAX = 65_535;
const REAL_MIN_NORMAL = 1.1754943508222875e-38;

export const isFixTime = (ts: number): boolean => ts >= FIX_TIME_MIN && ts < FIX_TIME_END;
export const fitsReal = (value: number): boolean => value === 0 || Math.abs(value) >= REAL_MIN_NORMAL;
/**
 * The most a byte array can hold: Codec 8 Extended gives a variable-size IO element a length of two bytes. Its
 * base64 text is at most MAX_BUFFER_B64 characters.
 */
export const MAX_BUFFER_BYTES = 65_535;
const MAX_BUFFER_B64 = 4 * Math.ceil(MAX_BUFFER_BYTES / 3);
/** No tracker's fix comes near this; it bounds what one entry can cost a batch. */
export const MAX_PAYLOAD_CHARS = 1_048_576;
/**
 * MAX_FUTURE_SKEW_MS when not set: how far ahead of the clock a fix (processor, gateway) or a crossing set by hand
 * (Directus) may be dated, a tracker's or a stopwatch's clock a little fast.
 */
export const DEFAULT_MAX_FUTURE_SKEW_MS = 300_000;

const CODECS: ReadonlySet<string> = new Set(['8', '8E', '16']);
const PAYLOAD_KEYS = ['device_id', 'timestamp', 'latitude', 'longitude', 'altitude', 'angle', 'speed', 'satellites', 'priority', 'attributes'];

/**
 * Why a `__buffer_b64` text is refused, or null for standard base64 (see isBase64) of at most MAX_BUFFER_BYTES bytes.
 * The length first: a text of megabytes is not read through.
 */
export function bufferBase64Problem(text: string): string | null {
  if (text.length > MAX_BUFFER_B64) return `expected base64 of at most ${MAX_BUFFER_BYTES.toLocaleString('en')} bytes`;
  return isBase64(text) ? null : 'expected base64: A-Z, a-z, 0-9, + and / in groups of four, padded with =';
}

/** Epoch ms of an ISO time with a zone, or NaN. */
function timeOf(value: unknown): number {
  return typeof value === 'string' ? isoTimeMs(value) : Number.NaN;
}

const inRange = (value: unknown, min: number, max: number): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max;

const realInRange = (value: unknown, min: number, max: number): value is number => inRange(value, min, max) && fitsReal(value);

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The one-key wrappers of a 64-bit integer or a byte buffer, as rawIoValue in parseStreamEntry defines them. */
function isWrappedIoValue(value: Record<string, unknown>): boolean {
  let keys = 0;
  for (const _key in value) keys++;
  if (keys !== 1) return false;
  if (typeof value.__bigint === 'string') return isBigintText(value.__bigint);
  if (typeof value.__buffer_b64 === 'string') return bufferBase64Problem(value.__buffer_b64) === null;
  return false;
}

function isRawAttributes(value: unknown): value is RawAttributes {
  if (!isPlainObject(value)) return false;
  for (const id in value) {
    if (!Object.hasOwn(value, id) || !IO_ID.test(id)) return false;
    const io = value[id];
    // Past 2^53 JSON.parse may have rounded the number: the full parse takes its digits from the text.
    if (typeof io === 'number' ? !Number.isFinite(io) || isRoundedInteger(io) : !isPlainObject(io) || !isWrappedIoValue(io)) return false;
  }
  return true;
}

/** Every field of the payload; fields the contract may add later are ignored, as the schema ignores them. */
const hasPayloadKeys = (payload: Record<string, unknown>): boolean => PAYLOAD_KEYS.every((key) => Object.hasOwn(payload, key));

/**
 * The Position of a well-formed entry, or null when the entry is not plainly well formed: the caller then asks the
 * zod schemas, which either accept it after all or say exactly what is wrong.
 */
export function readWellFormedEntry(fields: Record<string, string>): Position | null {
  const { device_id: deviceId, codec, payload: text } = fields;
  if (!Number.isFinite(timeOf(fields.ts)) || typeof deviceId !== 'string' || !DEVICE_ID.test(deviceId)) return null;
  if (typeof codec !== 'string' || !CODECS.has(codec) || typeof text !== 'string' || text.length === 0 || text.length > MAX_PAYLOAD_CHARS) return null;
  let p: unknown;
  try {
    p = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isPlainObject(p) || !hasPayloadKeys(p) || p.device_id !== deviceId) return null;
  const ts = timeOf(p.timestamp);
  if (!isFixTime(ts)) return null;
  const { latitude, longitude, altitude, angle, speed, satellites, priority, attributes } = p;
  if (!inRange(latitude, -90, 90) || !inRange(longitude, -180, 180) || !realInRange(altitude, ALTITUDE_MIN, ALTITUDE_MAX)) return null;
  if (!realInRange(angle, 0, 360) || !realInRange(speed, 0, 2000) || !inRange(satellites, 0, 255) || !Number.isInteger(satellites)) return null;
  if ((priority !== 0 && priority !== 1 && priority !== 2) || !isRawAttributes(attributes)) return null;
  return { deviceId, ts, latitude, longitude, altitude, angle, speed, satellites, priority, attributes, codec: codec as Position['codec'] };
}
