import { z } from 'zod';
import { isUuid, UUID_TEXT } from '../domain/uuid-text.ts';

/** A stream entry id, as the `cursor` of every position message. */
const CURSOR = /^\d{1,20}-\d{1,20}$/;
/** Both parts of a Redis stream id are unsigned 64-bit integers: 20 digits can hold more (Number cannot tell). */
const MAX_ID_PART = 18446744073709551615n;
const CURSOR_HINT = 'expected a cursor (a stream entry id such as "1733100000000-0")';

/** Whether Redis takes the text as a stream id: two parts of digits, each at most 2^64-1 (checked with BigInt). */
export function isCursor(text: string): boolean {
  return CURSOR.test(text) && text.split('-').every((part) => BigInt(part) <= MAX_ID_PART);
}

export type Topic = { kind: 'event'; eventId: string; name: string } | { kind: 'playback'; playbackId: string; name: string };

/** `event:<uuid>` (an event's live positions) or `playback:<uuid>` (a stored stage played back for a demo). */
export function parseTopic(name: string): Topic | null {
  const [kind, id, ...rest] = name.split(':');
  if (rest.length > 0 || !id || !isUuid(id)) return null;
  if (kind === 'event') return { kind: 'event', eventId: id.toLowerCase(), name: `event:${id.toLowerCase()}` };
  if (kind === 'playback') return { kind: 'playback', playbackId: id.toLowerCase(), name: `playback:${id.toLowerCase()}` };
  return null;
}

const requestId = z.union([z.string().max(200), z.number()]).optional();
const topic = z.string().max(200).refine((s) => parseTopic(s) !== null, 'expected "event:<uuid>" or "playback:<uuid>"');

export const MIN_PLAYBACK_SPEED = 1;
export const MAX_PLAYBACK_SPEED = 50;

const clientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('subscribe'), topic, id: requestId, since: z.string().refine(isCursor, `${CURSOR_HINT}, each part at most ${MAX_ID_PART}`).optional() }),
  z.object({ type: z.literal('unsubscribe'), topic, id: requestId }),
  z.object({
    type: z.literal('playback'),
    id: requestId,
    event: z.string().regex(UUID_TEXT, 'expected an event id (uuid)'),
    stage: z.string().regex(UUID_TEXT, 'expected a stage id (uuid)'),
    speed: z.number().min(MIN_PLAYBACK_SPEED, `expected ${MIN_PLAYBACK_SPEED} to ${MAX_PLAYBACK_SPEED}`).max(MAX_PLAYBACK_SPEED, `expected ${MIN_PLAYBACK_SPEED} to ${MAX_PLAYBACK_SPEED}`).default(10),
  }),
]);

export type ClientMessage = z.infer<typeof clientMessage>;

export type ParsedClientMessage = { ok: true; message: ClientMessage } | { ok: false; message: string; id?: string | number };

/** Reads one text frame; a problem names the field that is wrong, and keeps the request id when there was one. */
export function parseClientMessage(text: string): ParsedClientMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, message: 'expected a JSON object' };
  }
  // The whole message is wrong, not its `type`.
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, message: `expected a JSON object, not ${Array.isArray(raw) ? 'an array' : raw === null ? 'null' : `a ${typeof raw}`}` };
  const parsed = clientMessage.safeParse(raw);
  if (parsed.success) return { ok: true, message: parsed.data };
  const id = 'id' in raw && (typeof raw.id === 'string' || typeof raw.id === 'number') ? raw.id : undefined;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.map(String).join('.') || 'type';
  const message = issue.code === 'invalid_union' && field === 'type' ? 'type: expected "subscribe", "unsubscribe" or "playback"' : `${field}: ${issue.message}`;
  return { ok: false, message, ...(id !== undefined ? { id } : {}) };
}
