import type { RawIoValue } from '../position.ts';
import { addDecimals, decimalFromNumber, decimalToOutput, multiplyDecimals } from './exact-decimal.ts';
import { IoDecodeError } from './io-decode-error.ts';
import type { DecodedValue, IoMapping } from './io-mapping.ts';
import { ioMappingProblem } from './io-mapping-problem.ts';
import { readRawIo, type RawIoView } from './read-raw-io.ts';

/**
 * Decodes one raw Teltonika IO value with its mapping.
 *
 * - unsigned: raw * multiplier + offset; signed: the same after two's complement on byteSize bytes.
 * - boolean: raw != 0; hex: lower-case hex of the byteSize big-endian bytes; ascii: the bytes as Latin-1 text
 *   (byte-for-byte, so it can be encoded back) without trailing NULs.
 * - A raw value listed in `invalidValues` (compared before sign conversion and scaling) decodes to null.
 * - Scaling is exact decimal arithmetic. The result is a JS number when that number is exactly the result (a safe
 *   integer, or a fraction whose `String()` is exactly the decimal), otherwise the exact decimal string.
 *
 * @throws IoDecodeError for a bad mapping row or a raw value that does not fit it.
 */
export function decodeIoValue(raw: RawIoValue, mapping: IoMapping): DecodedValue {
  const problem = ioMappingProblem(mapping);
  if (problem !== null) throw new IoDecodeError(problem);
  const view = readRawIo(raw, mapping);
  if (isInvalid(view, mapping)) return null;

  const { valueType, byteSize } = mapping;
  switch (valueType) {
    case 'unsigned':
      return scale(view.integer, mapping);
    case 'signed':
      return scale(toSigned(view.integer, byteSize), mapping);
    case 'boolean':
      return view.integer !== 0n;
    case 'hex':
      return hexOf(view.bytes);
    case 'ascii':
      return textOf(view.bytes);
    default: {
      const unknown: never = valueType;
      throw new IoDecodeError(`valueType ${JSON.stringify(unknown)} is not one of unsigned, signed, boolean, hex, ascii`);
    }
  }
}

function isInvalid(view: RawIoView, { valueType, invalidValues }: IoMapping): boolean {
  return (invalidValues ?? []).some((entry) => {
    // Numbers, and decimal strings for values past 2^53, compare with the raw integer; hex ids compare as hex.
    if (typeof entry === 'number') return BigInt(entry) === view.integer;
    if (valueType === 'hex') return entry.toLowerCase() === hexOf(view.bytes);
    if (valueType === 'ascii') return entry === textOf(view.bytes);
    return BigInt(entry) === view.integer;
  });
}

function toSigned(integer: bigint, byteSize: number): bigint {
  const bits = BigInt(8 * byteSize);
  return integer >= 1n << (bits - 1n) ? integer - (1n << bits) : integer;
}

function scale(integer: bigint, { multiplier, offset }: IoMapping): number | string {
  const scaled = multiplyDecimals({ digits: integer, exponent: 0 }, decimalFromNumber(multiplier));
  return decimalToOutput(addDecimals(scaled, decimalFromNumber(offset)));
}

function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function textOf(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1').replace(/\0+$/, '');
}
