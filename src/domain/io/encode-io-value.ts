import type { RawIoValue } from '../position.ts';
import { decodeIoValue } from './decode-io-value.ts';
import { addDecimals, decimalFromNumber, divideToInteger, parseDecimal } from './exact-decimal.ts';
import { IoEncodeError } from './io-encode-error.ts';
import type { DecodedValue, IoMapping } from './io-mapping.ts';
import { ioMappingProblem } from './io-mapping-problem.ts';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The raw wire value that decodes to `value` (the inverse of decodeIoValue), as the ingestion service forwards it:
 * integers up to 2^53-1 as JSON numbers, larger ones as `{"__bigint"}`, negative readings in two's complement,
 * hex and ascii as `{"__buffer_b64"}` (ascii unpadded, as the FMB920 sends text). Numeric values may be numbers or
 * exact decimal strings; a value must be offset + a whole multiple of multiplier, computed exactly in decimal.
 *
 * @throws IoEncodeError for a bad mapping row, a value no raw value decodes to, or one that encodes to a raw value
 * the mapping lists as invalid (it would come back as "no reading").
 */
export function encodeIoValue(value: Exclude<DecodedValue, null>, mapping: IoMapping): RawIoValue {
  const problem = ioMappingProblem(mapping);
  if (problem !== null) throw new IoEncodeError(problem);
  const raw = rawFor(value, mapping);
  if (decodeIoValue(raw, mapping) === null) {
    throw new IoEncodeError(`value ${describe(value)} encodes to raw ${JSON.stringify(raw)}, which the mapping lists as invalid`);
  }
  return raw;
}

function rawFor(value: Exclude<DecodedValue, null>, mapping: IoMapping): RawIoValue {
  const { valueType, byteSize } = mapping;
  switch (valueType) {
    case 'unsigned':
    case 'signed':
      return integerRaw(unscale(value, mapping), byteSize, valueType === 'signed');
    case 'boolean':
      if (typeof value !== 'boolean') throw new IoEncodeError(`value ${describe(value)} is not a boolean`);
      return value ? 1 : 0;
    case 'hex':
      if (typeof value !== 'string' || !new RegExp(`^[0-9a-fA-F]{${2 * byteSize}}$`).test(value)) {
        throw new IoEncodeError(`value ${describe(value)} is not ${2 * byteSize} hex digits (byteSize ${byteSize})`);
      }
      return { __buffer_b64: Buffer.from(value, 'hex').toString('base64') };
    case 'ascii':
      return { __buffer_b64: textBytes(value, byteSize).toString('base64') };
    default: {
      const unknown: never = valueType;
      throw new IoEncodeError(`valueType ${JSON.stringify(unknown)} is not one of unsigned, signed, boolean, hex, ascii`);
    }
  }
}

function unscale(value: Exclude<DecodedValue, null>, { multiplier, offset }: IoMapping): bigint {
  const decimal =
    typeof value === 'number' && Number.isFinite(value) ? decimalFromNumber(value)
    : typeof value === 'string' ? parseDecimal(value)
    : null;
  if (decimal === null) throw new IoEncodeError(`value ${describe(value)} is not a finite number or a decimal string`);
  if (multiplier === 0) throw new IoEncodeError('multiplier 0 cannot be inverted');
  const { digits, exponent } = decimalFromNumber(offset);
  const integer = divideToInteger(addDecimals(decimal, { digits: -digits, exponent }), decimalFromNumber(multiplier));
  if (integer === null) {
    throw new IoEncodeError(`value ${describe(value)} is not offset ${offset} plus a whole multiple of multiplier ${multiplier}`);
  }
  return integer;
}

function integerRaw(integer: bigint, byteSize: number, signed: boolean): RawIoValue {
  const bits = BigInt(8 * byteSize);
  const [min, max] = signed ? [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n] : [0n, (1n << bits) - 1n];
  if (integer < min || integer > max) {
    throw new IoEncodeError(`raw integer ${integer} is outside ${min}..${max} for ${signed ? 'a signed' : 'an unsigned'} ${byteSize}-byte value`);
  }
  const unsigned = integer < 0n ? integer + (1n << bits) : integer;
  return unsigned <= MAX_SAFE ? Number(unsigned) : { __bigint: unsigned.toString() };
}

function textBytes(value: Exclude<DecodedValue, null>, byteSize: number): Buffer {
  if (typeof value !== 'string') throw new IoEncodeError(`value ${describe(value)} is not a string`);
  // Latin-1 keeps one byte per character, the same reading decodeIoValue uses.
  if (!/^[\u0000-\u00ff]*$/.test(value)) throw new IoEncodeError(`value ${describe(value)} has characters outside Latin-1`);
  if (value.length > byteSize) throw new IoEncodeError(`value ${describe(value)} is ${value.length} bytes, more than byteSize ${byteSize}`);
  if (value.includes('\u0000')) throw new IoEncodeError(`value ${describe(value)} has a NUL byte, which decoding strips or refuses`);
  return Buffer.from(value, 'latin1');
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
