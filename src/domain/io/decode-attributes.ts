import type { RawAttributes, RawIoValue } from '../position.ts';
import { decodeIoValue } from './decode-io-value.ts';
import type { DecodedValue, IoMapping } from './io-mapping.ts';

/**
 * Decodes every IO element of one fix. A known IO id becomes `attribute: value`. Nothing is ever dropped: an
 * unknown id stays raw under `io_<id>`, and an element that fails to decode stays raw under `io_<id>` with the
 * reason under `io_<id>_error`, so one bad element (or a bad mapping row) never loses the rest of the fix.
 * A second id decoding to an attribute name already used is kept raw the same way rather than overwriting.
 * Does not mutate its inputs.
 */
export function decodeAttributes(
  raw: RawAttributes,
  mappings: ReadonlyMap<number, IoMapping>,
): Record<string, DecodedValue | RawIoValue> {
  const entries: [string, DecodedValue | RawIoValue][] = [];
  const used = new Set<string>();
  const put = (key: string, value: DecodedValue | RawIoValue): void => {
    entries.push([key, value]);
    used.add(key);
  };

  for (const [id, value] of Object.entries(raw)) {
    const mapping = /^\d+$/.test(id) ? mappings.get(Number(id)) : undefined;
    if (mapping === undefined) {
      put(`io_${id}`, value);
      continue;
    }
    if (used.has(mapping.attribute)) {
      put(`io_${id}`, value);
      put(`io_${id}_error`, `attribute "${mapping.attribute}" is already taken by another IO element`);
      continue;
    }
    try {
      put(mapping.attribute, decodeIoValue(value, mapping));
    } catch (error) {
      put(`io_${id}`, value);
      put(`io_${id}_error`, error instanceof Error ? error.message : String(error));
    }
  }
  // fromEntries defines own properties, so an attribute named "__proto__" cannot reach the prototype.
  return Object.fromEntries(entries);
}
