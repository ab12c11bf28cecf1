import type { RawAttributes, RawIoValue } from '../position.ts';
import { decodeIoValue } from './decode-io-value.ts';
import type { DecodedValue, IoMapping } from './io-mapping.ts';
import type { IoValueDecoder } from './io-value-decoder.ts';
import { storableText } from './storable-text.ts';

/** A mapping row prepared once (ioValueDecoder), for callers that decode many fixes with one table. */
export interface PreparedIoMapping {
  attribute: string;
  decode: IoValueDecoder;
}

/**
 * Decodes every IO element of one fix. A known IO id becomes `attribute: value`. Nothing is ever dropped: an
 * unknown id stays raw under `io_<id>`, and an element that fails to decode stays raw under `io_<id>` with the
 * reason under `io_<id>_error`, so one bad element (or a bad mapping row) never loses the rest of the fix.
 * A second id decoding to an attribute name already used is kept raw the same way rather than overwriting.
 * Does not mutate its inputs. `mappings` may hold rows or prepared rows; both decode the same.
 */
export function decodeAttributes(
  raw: RawAttributes,
  mappings: ReadonlyMap<number, IoMapping | PreparedIoMapping>,
): Record<string, DecodedValue | RawIoValue> {
  // Built in place rather than through entries and a Set: this runs for every fix the processor stores.
  const decoded: Record<string, DecodedValue | RawIoValue> = {};
  for (const id of Object.keys(raw)) {
    const value = raw[id]!;
    const mapping = /^\d+$/.test(id) ? mappings.get(Number(id)) : undefined;
    if (mapping === undefined) {
      put(decoded, `io_${id}`, value);
      continue;
    }
    if (Object.hasOwn(decoded, mapping.attribute)) {
      put(decoded, `io_${id}`, value);
      put(decoded, `io_${id}_error`, storableText(`attribute "${mapping.attribute}" is already taken by another IO element`));
      continue;
    }
    try {
      put(decoded, mapping.attribute, 'decode' in mapping ? mapping.decode(value) : decodeIoValue(value, mapping));
    } catch (error) {
      put(decoded, `io_${id}`, value);
      // The reason may quote the raw value or the row; it must be storable whatever they hold.
      put(decoded, `io_${id}_error`, storableText(error instanceof Error ? error.message : String(error)));
    }
  }
  return decoded;
}

/** Sets an own property; defineProperty for "__proto__", so an attribute of that name cannot reach the prototype. */
function put(target: Record<string, DecodedValue | RawIoValue>, key: string, value: DecodedValue | RawIoValue): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}