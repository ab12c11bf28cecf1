import type { RawIoValue } from '../position.ts';
import type { DecodedValue, IoMapping } from './io-mapping.ts';
import { ioValueDecoder } from './io-value-decoder.ts';

/**
 * Decodes one raw Teltonika IO value with its mapping.
 *
 * - unsigned: raw * multiplier + offset; signed: the same after two's complement on byteSize bytes.
 * - boolean: raw != 0; hex: lower-case hex of the byteSize big-endian bytes; ascii: the bytes as Latin-1 text
 *   (byte-for-byte, so it can be encoded back) without the NULs that pad it before or after; a NUL between its
 *   characters is an error, since Postgres cannot store it.
 * - A raw value listed in `invalidValues` (compared before sign conversion and scaling) decodes to null.
 * - Scaling is exact decimal arithmetic. The result is a JS number when that number is exactly the result (a safe
 *   integer, or a fraction whose `String()` is exactly the decimal), otherwise the exact decimal string.
 *
 * To decode many values with one row, prepare the row once with ioValueDecoder (what this does on every call).
 *
 * @throws IoDecodeError for a bad mapping row or a raw value that does not fit it.
 */
export function decodeIoValue(raw: RawIoValue, mapping: IoMapping): DecodedValue {
  return ioValueDecoder(mapping)(raw);
}
