import { skipSpaces } from './io/attributes-json.ts';

const QUOTE = 0x22;
const OPEN = 0x7b;
const CLOSE = 0x7d;
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
 * Only for a payload that parseStreamEntry accepted: there, no string holds a quote or a brace (IO ids are digits,
 * wrapped values digits or base64), so braces and quotes are the text's structure; the last `"attributes"` followed
 * by a colon is the key whose value JSON.parse kept (a device id may read "attributes", but is no key).
 */
export function payloadAttributesText(payload: string): string | null {
  const key = payload.lastIndexOf('"attributes"');
  if (key < 0) return null;
  let at = skipSpaces(payload, key + 12);
  if (payload.charCodeAt(at) !== 0x3a) return null; // :
  at = skipSpaces(payload, at + 1);
  if (payload.charCodeAt(at) !== OPEN || payload.includes('\\', at)) return null;
  const start = at;
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
