import { skipSpaces } from './io/attributes-json.ts';

const QUOTE = 0x22;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
/** Digits of an integer that JSON.stringify writes back as they came (below 2^53 with room to spare). */
const MAX_DIGITS = 15;

/**
 * The `attributes` value of an accepted payload's JSON text, cut out as it came, when Postgres makes the same jsonb of
 * it as of `JSON.stringify` of the parsed attributes: its numbers are plain integers of at most 15 digits (no
 * fraction, exponent or -0, which JSON.stringify would write otherwise), and it holds no escape, tab or line break
 * (so it is COPY text as it is). Null for anything else: the caller then serialises the parsed attributes.
 * Serialising them cost the processor more than parsing the whole payload (docs/performance.md).
 *
 * Only for a payload that parseStreamEntry accepted. The value is that of the last `"attributes"` key of the payload's
 * own object, the one JSON.parse keeps: a field the sender adds may hold an object with an `attributes` key of its
 * own, after the real one (`"raw":{"attributes":{...}}`), and its value was stored as the fix's raw IO. A payload with
 * any backslash is left to JSON.stringify: an escaped key (`"\u0061ttributes"`) or quote would hide the structure.
 */
export function payloadAttributesText(payload: string): string | null {
  if (payload.includes('\\')) return null;
  // Most payloads end with their attributes: the last key in the text closes the payload's object, so it is its own.
  const last = keyValue(payload, payload.lastIndexOf('"attributes"'));
  const cut = last < 0 ? null : objectText(payload, last);
  if (cut !== null && skipSpaces(payload, last + cut.length) === payload.length - 1 && payload.charCodeAt(payload.length - 1) === CLOSE) return cut;
  const own = ownAttributesValue(payload);
  return own < 0 ? null : objectText(payload, own);
}

/** Where the value of the key string at `key` starts; -1 when there is none, or the string is no key. */
function keyValue(payload: string, key: number): number {
  if (key < 0) return -1;
  const colon = skipSpaces(payload, key + 12);
  return payload.charCodeAt(colon) === COLON ? skipSpaces(payload, colon + 1) : -1;
}

/** The text of the object starting at `start`, when it may be stored as it is (see payloadAttributesText); else null. */
function objectText(payload: string, start: number): string | null {
  if (payload.charCodeAt(start) !== OPEN) return null;
  let at = start;
  let depth = 0;
  let digits = 0;
  for (; at < payload.length; at++) {
    const c = payload.charCodeAt(at);
    if (c >= ZERO && c <= NINE) {
      if (++digits > MAX_DIGITS) return null;
      continue;
    }
    digits = 0;
    if (c === QUOTE) {
      at = payload.indexOf('"', at + 1);
      if (at < 0) return null;
    } else if (c === OPEN) depth++;
    else if (c === CLOSE) {
      if (--depth === 0) return payload.slice(start, at + 1);
    } else if (c === MINUS) {
      if (payload.charCodeAt(at + 1) === ZERO) return null;
    } else if (c !== 0x2c && c !== 0x3a && c !== 0x20) return null; // anything but , : and a space
  }
  return null;
}

/**
 * Where the value of the last `"attributes"` key of the outermost object starts, or -1. Strings are skipped whole
 * (the caller made sure none holds an escape), so braces and brackets inside them do not count; a string followed by
 * a colon is a key.
 */
function ownAttributesValue(payload: string): number {
  let depth = 0;
  let found = -1;
  for (let at = 0; at < payload.length; at++) {
    const c = payload.charCodeAt(at);
    if (c === QUOTE) {
      const end = payload.indexOf('"', at + 1);
      if (end < 0) return -1;
      if (depth === 1 && end - at === 11 && payload.startsWith('attributes', at + 1)) {
        const value = keyValue(payload, at);
        if (value >= 0) found = value;
      }
      at = end;
    } else if (c === OPEN || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE || c === CLOSE_BRACKET) depth--;
  }
  return found;
}
