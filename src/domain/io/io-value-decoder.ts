import type { RawIoValue } from '../position.ts';
import { addDecimals, decimalFromNumber, decimalToOutput, multiplyDecimals, type Decimal } from './exact-decimal.ts';
import { IoDecodeError } from './io-decode-error.ts';
import type { DecodedValue, IoMapping } from './io-mapping.ts';
import { ioMappingProblem } from './io-mapping-problem.ts';
import { isBase64, readRawIo, type RawIoView } from './read-raw-io.ts';

/** Decodes one raw value with the mapping row it was made from; see decodeIoValue for the rules. */
export type IoValueDecoder = (raw: RawIoValue) => DecodedValue;

/** Powers of ten a double holds exactly, so that `n / 10^k` is one correctly rounded division. */
const EXACT_POWERS_OF_TEN = Array.from({ length: 23 }, (_, k) => 10 ** k);
/** A decimal of at most 15 significant digits is the shortest form of its nearest double (DBL_DIG). */
const FIFTEEN_DIGITS = 1e15;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const DIGITS = /^\d+$/;
/** NULs around ascii text (see textOf). */
const PADDING = /^\0+|\0+$/g;

/**
 * Checks a mapping row once and returns the decoder of its values, with its scaling and invalid values prepared:
 * decoding a fix then costs no row check and, for the usual small integers, no bigint arithmetic. A broken row
 * gives a decoder that throws the row's problem for every value, as decodeIoValue does.
 */
export function ioValueDecoder(mapping: IoMapping): IoValueDecoder {
  const problem = ioMappingProblem(mapping);
  if (problem !== null) {
    return () => {
      throw new IoDecodeError(problem);
    };
  }
  const { valueType, byteSize } = mapping;
  const numeric = valueType === 'unsigned' || valueType === 'signed';
  const multiplier = numeric ? decimalFromNumber(mapping.multiplier) : null;
  const offset = numeric ? decimalFromNumber(mapping.offset) : null;
  const identity = multiplier?.digits === 1n && multiplier.exponent === 0 && offset?.digits === 0n;
  const invalid = invalidSets(mapping);
  const limit = byteSize <= 6 ? 2 ** (8 * byteSize) : Number.POSITIVE_INFINITY;
  const bigLimit = 1n << BigInt(8 * byteSize);

  const scale = (integer: bigint): number | string => {
    if (integer >= -MAX_SAFE && integer <= MAX_SAFE) {
      const exact = scaledExactly(Number(integer), multiplier!, offset!);
      if (exact !== null) return exact;
    } else if (identity) {
      return integer.toString(); // what the decimal path prints for an integer past 2^53
    }
    return decimalToOutput(addDecimals(multiplyDecimals({ digits: integer, exponent: 0 }, multiplier!), offset!));
  };

  /** A raw integer of a numeric or boolean row, already known to fit its bytes. */
  const fromInteger = (integer: bigint): DecodedValue => {
    if (invalid.integers.has(integer)) return null;
    if (valueType === 'boolean') return integer !== 0n;
    return scale(valueType === 'signed' ? toSigned(integer, byteSize) : integer);
  };

  const fromView = (view: RawIoView): DecodedValue => {
    switch (valueType) {
      case 'unsigned':
      case 'signed':
      case 'boolean':
        return fromInteger(view.integer);
      case 'hex':
      case 'ascii': {
        if (invalid.integers.has(view.integer)) return null;
        const text = valueType === 'hex' ? hexOf(view.bytes) : textOf(view.bytes);
        return invalid.texts.has(text) ? null : text;
      }
      default: {
        const unknown: never = valueType;
        throw new IoDecodeError(`valueType ${JSON.stringify(unknown)} is not one of unsigned, signed, boolean, hex, ascii`);
      }
    }
  };

  // The usual raws that plainly fit the row skip readRawIo's two views; anything else goes through it, so every
  // error keeps its message. `undefined` means "not plainly fitting".
  const fromSmallInteger = (raw: number): DecodedValue => {
    if (invalid.numbers.has(raw)) return null;
    if (valueType === 'boolean') return raw !== 0;
    const value = valueType === 'signed' && raw >= limit / 2 ? raw - limit : raw;
    return scaledExactly(value, multiplier!, offset!) ?? scale(BigInt(value));
  };
  const fromDecimalText = (text: string): DecodedValue | undefined => {
    if (!DIGITS.test(text)) return undefined;
    const integer = BigInt(text);
    return integer < bigLimit ? fromInteger(integer) : undefined;
  };
  const fromBase64 = (text: string): DecodedValue | undefined => {
    if (invalid.integers.size > 0 || !isBase64(text)) return undefined;
    const bytes = Buffer.from(text, 'base64');
    if (valueType === 'ascii' ? bytes.length > byteSize : bytes.length !== byteSize) return undefined;
    const decoded = valueType === 'hex' ? bytes.toString('hex') : textOf(bytes);
    return invalid.texts.has(decoded) ? null : decoded;
  };
  const integerRow = valueType !== 'hex' && valueType !== 'ascii';
  const plainly = (raw: RawIoValue): DecodedValue | undefined => {
    if (typeof raw === 'number') return integerRow && Number.isSafeInteger(raw) && raw >= 0 && raw < limit ? fromSmallInteger(raw) : undefined;
    if (typeof raw !== 'object' || raw === null) return undefined;
    if ('__buffer_b64' in raw) return !integerRow && typeof raw.__buffer_b64 === 'string' ? fromBase64(raw.__buffer_b64) : undefined;
    return integerRow && '__bigint' in raw && typeof raw.__bigint === 'string' ? fromDecimalText(raw.__bigint) : undefined;
  };

  return (raw) => {
    const value = plainly(raw);
    return value === undefined ? fromView(readRawIo(raw, mapping)) : value;
  };
}

interface InvalidSets {
  /** Raw integers meaning "no reading" (numbers always; decimal strings on numeric and boolean rows). */
  integers: Set<bigint>;
  /** The same integers where a double holds them exactly, for raws that arrive as plain numbers. */
  numbers: Set<number>;
  /** Lower-case hex ids (hex rows) or texts (ascii rows) meaning "no reading". */
  texts: Set<string>;
}

function invalidSets({ valueType, invalidValues }: IoMapping): InvalidSets {
  const sets: InvalidSets = { integers: new Set(), numbers: new Set(), texts: new Set() };
  for (const entry of invalidValues ?? []) {
    if (typeof entry === 'string' && valueType === 'hex') sets.texts.add(entry.toLowerCase());
    else if (typeof entry === 'string' && valueType === 'ascii') sets.texts.add(entry);
    else sets.integers.add(BigInt(entry));
  }
  for (const integer of sets.integers) if (integer <= BigInt(Number.MAX_SAFE_INTEGER)) sets.numbers.add(Number(integer));
  return sets;
}

/**
 * `value * multiplier + offset` as a number when number arithmetic gives exactly what the decimal path would:
 * integer scaling that stays within safe integers, or a whole number scaled by 10^-k with at most 15 significant
 * digits (its nearest double prints as exactly that decimal). Null otherwise; the caller then computes in decimal.
 */
function scaledExactly(value: number, multiplier: Decimal, offset: Decimal): number | null {
  if (offset.digits !== 0n || multiplier.digits > 1_000_000n || multiplier.digits < -1_000_000n) return null;
  const digits = value * Number(multiplier.digits);
  if (!Number.isSafeInteger(digits)) return null;
  if (multiplier.exponent >= 0) {
    const scaled = digits * (EXACT_POWERS_OF_TEN[multiplier.exponent] ?? Number.NaN);
    return Number.isSafeInteger(scaled) ? scaled + 0 : null; // + 0 turns -0 into 0, as the decimal path does
  }
  const divisor = EXACT_POWERS_OF_TEN[-multiplier.exponent];
  if (divisor === undefined || Math.abs(digits) >= FIFTEEN_DIGITS) return null;
  return digits / divisor + 0;
}

function toSigned(integer: bigint, byteSize: number): bigint {
  const bits = BigInt(8 * byteSize);
  return integer >= 1n << (bits - 1n) ? integer - (1n << bits) : integer;
}

function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/**
 * The Latin-1 text of ascii bytes. NULs before and after the text are padding (a tracker pads its slot, and a raw
 * number is widened to byteSize big-endian bytes, so the number 65 in 8 bytes is seven NULs and "A"): they are
 * stripped. A NUL inside the text is refused: Postgres cannot store it in jsonb, and dropping it would change the
 * value; decodeAttributes then keeps the raw value with the reason.
 */
function textOf(bytes: Uint8Array): string {
  const text = Buffer.from(bytes).toString('latin1').replace(PADDING, '');
  const inner = text.indexOf('\0');
  if (inner >= 0) throw new IoDecodeError(`ascii text has a NUL byte at position ${inner} between its characters, which cannot be stored as text`);
  return text;
}
