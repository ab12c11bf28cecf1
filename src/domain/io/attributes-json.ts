import type { RawAttributes, RawIoValue } from '../position.ts';
import { decodeAttributes, type PreparedIoMapping } from './decode-attributes.ts';
import { isRoundedInteger } from '../read-well-formed-entry.ts';
import type { IoMapping } from './io-mapping.ts';
import { ioValueDecoder, type IoValueDecoder } from './io-value-decoder.ts';

/** Decoded attributes of one fix as JSON text, from the raw attributes or from their JSON text. */
export interface AttributesJson {
  /**
   * `exact`, when given: the same attributes with every plain integer past 2^53 in its 64-bit form, digits as sent
   * (exactBigIntegers), asked for only when `raw` holds such a number (JSON.parse rounded it), and decoded instead.
   */
  fromRaw(raw: RawAttributes, exact?: () => RawAttributes): string;
  /** `text` is the JSON of the raw attributes, for example a positions row's `attributes` as Postgres prints it. */
  fromText(text: string): string;
}

/** Distinct raw values remembered per IO id; an id whose values rarely repeat (odometers) stops being looked up. */
const MEMO_SIZE = 4096;
/** IO id texts resolved and kept; the wire has at most 65,536 ids, anything past that is resolved each time. */
const MAX_IDS = 65_536;
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

interface Slot {
  decode: IoValueDecoder;
  /** `"attribute":`, the start of this row's member. */
  prefix: string;
  /** Shared by every row naming the same attribute: the fix that last used the name, to catch a second use. */
  name: { fix: number };
  /** Raw value (a number, the tagged text of an object value, or the value's JSON text) -> the member's text. */
  memo: Map<number | string, string> | null;
  lookups: number;
  hits: number;
}

/**
 * `JSON.stringify(decodeAttributes(raw, mappings))` for many fixes of one mapping table, as a backfill decodes
 * millions: the same text, character for character (tested against decodeAttributes), several times faster. It
 * exists because a backfill spends most of its JavaScript time here: parsing each fix into an object whose keys are
 * array indices, then building another object only to serialise it, costs more than the decoding itself.
 *
 * Each row is prepared once, each IO id text resolved to its row once, and members are remembered per IO id: a
 * tracker repeats most readings (flags, cell ids, SIM and iButton ids), and a value decoder is a pure function of
 * the raw value. `fromText` reads the usual shape of stored raw attributes (index keys in ascending order, numbers
 * and `{"__bigint"}` / `{"__buffer_b64"}` values) without JSON.parse. Anything unusual in a fix (another shape, a
 * value that fails to decode, two elements naming one attribute, an unknown id named like an attribute) hands the
 * whole fix to decodeAttributes itself. Later rows of the same IO id win, as in the processor.
 */
export function attributesJson(mappings: readonly IoMapping[]): AttributesJson {
  const rows = new Map(mappings.map((m) => [m.ioId, m]));
  const prepared = new Map<number, PreparedIoMapping>();
  const names = new Map<string, { fix: number }>();
  const byIoId = new Map<number, Slot>();
  for (const [ioId, row] of rows) {
    const decode = ioValueDecoder(row);
    prepared.set(ioId, { attribute: row.attribute, decode });
    const name = names.get(row.attribute) ?? { fix: 0 };
    names.set(row.attribute, name);
    byIoId.set(ioId, { decode, prefix: `${JSON.stringify(row.attribute)}:`, name, memo: new Map(), lookups: 0, hits: 0 });
  }
  const byText = new Map<string, Slot | null>();
  const slotOf = (id: string): Slot | null => {
    let slot = byText.get(id);
    if (slot === undefined) {
      slot = (/^\d+$/.test(id) ? byIoId.get(Number(id)) : undefined) ?? null;
      if (byText.size < MAX_IDS) byText.set(id, slot);
    }
    return slot;
  };
  const reference = (raw: RawAttributes): string => JSON.stringify(decodeAttributes(raw, prepared));
  let fix = 0;

  /**
   * One member of the output, or null when the fix must go to the reference. `slot` is the row of IO id `id`
   * (null: unknown). The value is `raw`, or else the JSON text `source`, parsed only on a memo miss. No closures
   * here or in scan: they run for every element of every fix.
   */
  const member = (slot: Slot | null, id: string | number, raw: RawIoValue | undefined, source: string | null, key: number | string | null): string | null => {
    if (slot === null) {
      const name = `io_${id}`;
      return names.has(name) ? null : `${JSON.stringify(name)}:${JSON.stringify(source === null ? raw : parseValue(source))}`;
    }
    if (slot.name.fix === fix) return null;
    slot.name.fix = fix;
    const known = recall(slot, key);
    if (known !== undefined) return known;
    let text: string;
    try {
      text = slot.prefix + JSON.stringify(slot.decode(source === null ? raw! : parseValue(source)));
    } catch {
      return null;
    }
    remember(slot, key, text);
    return text;
  };

  const fromRaw = (raw: RawAttributes, exact?: () => RawAttributes): string => {
    fix += 1;
    let json = '';
    for (const id of Object.keys(raw)) {
      const value = raw[id]!;
      if (exact !== undefined && typeof value === 'number' && isRoundedInteger(value)) return fromRaw(exact());
      const text = member(slotOf(id), id, value, null, memoKey(value));
      if (text === null) return reference(raw);
      json += json ? `,${text}` : text;
    }
    return `{${json}}`;
  };

  const fromText = (text: string): string => {
    let json: string | null;
    try {
      json = scan(text);
    } catch {
      json = null; // a value the reader could not take whole: JSON.parse decides
    }
    return json ?? fromRaw(JSON.parse(text) as RawAttributes);
  };

  /**
   * The usual shape read in place; null for anything else (fromRaw decides then). Keys must be array indices
   * without leading zeros, in ascending order: then they enumerate as Object.keys of the parsed object does, and
   * none is repeated. Plain non-negative integers (most values) are read digit by digit and remembered by number,
   * as fromRaw remembers them; other values by their text.
   */
  const scan = (text: string): string | null => {
    fix += 1;
    let json = '';
    let at = skipSpaces(text, 0);
    if (text.charCodeAt(at) !== 0x7b) return null; // {
    at = skipSpaces(text, at + 1);
    if (text.charCodeAt(at) === 0x7d) return skipSpaces(text, at + 1) === text.length ? '{}' : null;
    let previous = -1;
    for (;;) {
      if (text.charCodeAt(at) !== 0x22) return null; // "
      const keyStart = ++at;
      let id = 0;
      for (let c = text.charCodeAt(at); c >= 0x30 && c <= 0x39; c = text.charCodeAt(++at)) id = id * 10 + (c - 0x30);
      const digits = at - keyStart;
      if (text.charCodeAt(at) !== 0x22 || digits === 0 || digits > 9 || (digits > 1 && text.charCodeAt(keyStart) === 0x30) || id <= previous) return null;
      previous = id;
      at = skipSpaces(text, at + 1);
      if (text.charCodeAt(at) !== 0x3a) return null; // :
      at = skipSpaces(text, at + 1);
      const start = at;
      let integer = 0;
      for (let c = text.charCodeAt(at); c >= 0x30 && c <= 0x39; c = text.charCodeAt(++at)) integer = integer * 10 + (c - 0x30);
      const after = text.charCodeAt(at);
      let item: string | null;
      if (at > start && after !== 0x2e && after !== 0x65 && after !== 0x45 && Number.isSafeInteger(integer)) {
        if (at - start > 1 && text.charCodeAt(start) === 0x30) return null; // a leading zero is no JSON number
        item = member(byIoId.get(id) ?? null, id, integer, null, integer);
      } else {
        at = valueEnd(text, start);
        if (at < 0) return null;
        const source = text.slice(start, at);
        item = member(byIoId.get(id) ?? null, id, undefined, source, source);
      }
      if (item === null) return null;
      json += json ? `,${item}` : item;
      at = skipSpaces(text, at);
      const next = text.charCodeAt(at);
      if (next === 0x2c) at = skipSpaces(text, at + 1); // ,
      else if (next === 0x7d) return skipSpaces(text, at + 1) === text.length ? `{${json}}` : null; // }
      else return null;
    }
  };

  return { fromRaw, fromText };
}

/**
 * A value cut out by valueEnd. A cut that is not one whole JSON value (a "}" inside a string, a malformed number)
 * throws SyntaxError.
 */
function parseValue(source: string): RawIoValue {
  if (source.charCodeAt(0) === 0x7b) return JSON.parse(source) as RawIoValue;
  if (!JSON_NUMBER.test(source)) throw new SyntaxError(`not a JSON number: ${source}`);
  return Number(source);
}

/** Where a number or a flat object value starting at `at` ends; -1 for other values (strings, arrays, literals). */
function valueEnd(text: string, at: number): number {
  const first = text.charCodeAt(at);
  if (first === 0x7b) {
    const close = text.indexOf('}', at);
    return close < 0 ? -1 : close + 1;
  }
  if (first !== 0x2d && (first < 0x30 || first > 0x39)) return -1;
  let end = at + 1;
  for (let c = text.charCodeAt(end); (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d; c = text.charCodeAt(++end));
  return end;
}

/** The first index at or after `at` that is not JSON whitespace. */
export function skipSpaces(text: string, at: number): number {
  let c = text.charCodeAt(at);
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++at);
  return at;
}

/** The memo key of a parsed raw value: the number, or the tagged text of a one-field wire object; null otherwise. */
function memoKey(value: RawIoValue): number | string | null {
  if (typeof value === 'number') return Object.is(value, -0) ? null : value; // Map keys would take -0 for 0
  if (typeof value !== 'object' || value === null) return null;
  let key: string | null = null;
  for (const field in value) {
    if (key !== null) return null;
    const text = (value as Record<string, unknown>)[field];
    if (typeof text !== 'string') return null;
    if (field === '__bigint') key = `\u0000i${text}`;
    else if (field === '__buffer_b64') key = `\u0000b${text}`;
    else return null;
  }
  return key;
}

function recall(slot: Slot, key: number | string | null): string | undefined {
  if (slot.memo === null || key === null) return undefined;
  slot.lookups += 1;
  const found = slot.memo.get(key);
  if (found !== undefined) slot.hits += 1;
  return found;
}

function remember(slot: Slot, key: number | string | null, text: string): void {
  if (slot.memo === null || key === null) return;
  if (slot.memo.size < MEMO_SIZE) slot.memo.set(key, text);
  // Full: kept while it mostly hits, dropped for good where values hardly repeat.
  else if (slot.hits * 2 < slot.lookups) slot.memo = null;
}
