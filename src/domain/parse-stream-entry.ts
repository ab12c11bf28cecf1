import { z } from 'zod';
import { exactBigIntegers, holdsRoundedInteger, roundedIoIds } from './io/exact-big-integers.ts';
import { cutShort } from './cut-short.ts';
import { ISO_TIME, isoTimeMs } from './iso-time.ts';
import type { Position } from './position.ts';
import {
  ALTITUDE_MAX,
  ALTITUDE_MIN,
  bufferBase64Problem,
  DEVICE_ID,
  fitsReal,
  FIX_TIME_END,
  FIX_TIME_MIN,
  IO_ID,
  isBigintText,
  isFixTime,
  MAX_PAYLOAD_CHARS,
  readWellFormedEntry,
} from './read-well-formed-entry.ts';

/** Why a stream entry cannot become a Position; the reason goes to the dead-letter stream as it is. */
export interface StreamEntryRejection {
  ok: false;
  reason: string;
}

export type StreamEntryParse = { ok: true; position: Position } | StreamEntryRejection;

const isoTime = z
  .string()
  .regex(ISO_TIME, 'expected an ISO-8601 time with a zone')
  .refine((s) => Number.isFinite(isoTimeMs(s)), 'not a real calendar time');

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
// An unreadable time already has its message above; NaN passes here so it is not reported twice.
const fixTime = isoTime.refine(
  (s) => {
    const ms = isoTimeMs(s);
    return Number.isNaN(ms) || isFixTime(ms);
  },
  `outside the times a fix can have (${day(FIX_TIME_MIN)} to before ${day(FIX_TIME_END)}, UTC)`,
);

/** A `real` column: in range, and not so close to zero that float4 refuses it (see fitsReal). */
const real = (min: number, max: number, unit: string) =>
  z
    .number()
    .min(min, `expected ${unit} within ${min}..${max}`)
    .max(max, `expected ${unit} within ${min}..${max}`)
    .refine(fitsReal, 'too close to zero for a real column (nonzero below 1.2e-38)');

/** A tracker id as the stream names it: the only ids `positions` holds, so also what a run may ask for. */
export const deviceIdSchema = z.string().regex(DEVICE_ID, 'expected a tracker id (IMEI) of 1-64 letters or digits');

const rawIoValue = z.union([
  z.number().finite(),
  z.strictObject({
    __bigint: z.string().refine(isBigintText, 'expected the decimal digits of a 64-bit integer (from -9223372036854775808 to 18446744073709551615)'),
  }),
  z.strictObject({
    __buffer_b64: z.string().superRefine((text, ctx) => {
      const problem = bufferBase64Problem(text);
      if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
    }),
  }),
], { error: 'expected a number, {"__bigint": "<digits>"} or {"__buffer_b64": "<base64>"}' });

// Not strict: the ingestion service may add fields to the Position (CONTRACTS: "add fields freely"); they are not
// ours to refuse, and the Position keeps only its own.
const positionPayload = z.object({
  device_id: deviceIdSchema,
  timestamp: fixTime,
  latitude: z.number().min(-90).max(90),
  longitude: z.number().min(-180).max(180),
  altitude: real(ALTITUDE_MIN, ALTITUDE_MAX, 'metres'),
  angle: real(0, 360, 'degrees'),
  speed: real(0, 2000, 'km/h'),
  satellites: z.number().int().min(0).max(255),
  priority: z.union([z.literal(0), z.literal(1), z.literal(2)], { error: 'expected 0, 1 or 2 (low, high, panic)' }),
  // zod's record passes over a "__proto__" key without a word: the fix was stored without it, and the exporter,
  // which keeps the raw text, had it.
  attributes: z.preprocess(
    (value, ctx) => {
      if (value !== null && typeof value === 'object' && Object.hasOwn(value, '__proto__')) ctx.issues.push({ code: 'custom', message: 'IO ids are decimal strings of 1 to 5 digits, not "__proto__"', input: value });
      return value;
    },
    z.record(z.string().regex(IO_ID), rawIoValue, {
      error: (issue) => (issue.code === 'invalid_key' ? 'IO ids are decimal strings of 1 to 5 digits' : undefined),
    }),
  ),
});

const entryFields = z.object({
  ts: isoTime,
  device_id: deviceIdSchema,
  codec: z.enum(['8', '8E', '16']),
  payload: z.string().min(1).max(MAX_PAYLOAD_CHARS, `larger than ${MAX_PAYLOAD_CHARS.toLocaleString('en')} characters, which no tracker's fix is`),
});

function describe(prefix: string, error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}

/**
 * Turns the string fields of one telemetry stream entry into a Position, or says exactly what is wrong.
 * The payload is the source of truth; the `device_id` field must agree with it because ordering and sharding key on it.
 */
export function parseStreamEntry(fields: Record<string, string>): StreamEntryParse {
  try {
    return parse(fields);
  } catch (error) {
    // Should not happen; if a shape nobody foresaw makes a check throw, the entry is refused with the error rather
    // than failing its batch on every retry and stopping the stream behind it.
    return { ok: false, reason: `unreadable entry: ${(error as Error).message}` };
  }
}

function parse(fields: Record<string, string>): StreamEntryParse {
  const wellFormed = readWellFormedEntry(fields);
  if (wellFormed !== null) return { ok: true, position: wellFormed };

  const envelope = entryFields.safeParse(fields);
  if (!envelope.success) return { ok: false, reason: describe('', envelope.error) };

  let json: unknown;
  try {
    json = JSON.parse(envelope.data.payload);
  } catch (error) {
    return { ok: false, reason: `payload: not JSON (${(error as Error).message})` };
  }
  const payload = positionPayload.safeParse(json);
  if (!payload.success) return { ok: false, reason: describe('payload', payload.error) };

  const p = payload.data;
  if (p.device_id !== envelope.data.device_id) {
    return { ok: false, reason: `device_id: field "${envelope.data.device_id}" differs from payload.device_id "${p.device_id}"` };
  }
  // Raw IO is stored as received: a number whose digits a double cannot keep, and no 64-bit integer, is refused.
  const attributes = holdsRoundedInteger(p.attributes) ? exactBigIntegers(envelope.data.payload) : p.attributes;
  const rounded = roundedIoIds(attributes);
  if (rounded.length > 0) {
    const sent = sentNumbers(envelope.data.payload);
    return {
      ok: false,
      reason: rounded
        .map((id) => `payload.attributes.${id}: ${cutShort(sent.get(id) ?? String(attributes[id]), 60)} is past 2^53 and no 64-bit integer, so its digits cannot be kept (a 64-bit value goes as {"__bigint": "<digits>"})`)
        .join('; '),
    };
  }
  return {
    ok: true,
    position: {
      deviceId: p.device_id,
      ts: isoTimeMs(p.timestamp),
      latitude: p.latitude,
      longitude: p.longitude,
      altitude: p.altitude,
      angle: p.angle,
      speed: p.speed,
      satellites: p.satellites,
      priority: p.priority,
      attributes,
      codec: envelope.data.codec,
    },
  };
}

/** The numbers of a payload's IO elements as the sender wrote them (IO ids are digits: no other field is named so). */
function sentNumbers(payload: string): Map<string, string> {
  const sent = new Map<string, string>();
  JSON.parse(payload, (key, value: unknown, context?: { source?: string }) => {
    if (typeof value === 'number' && context?.source !== undefined && IO_ID.test(key)) sent.set(key, context.source);
    return value;
  });
  return sent;
}
