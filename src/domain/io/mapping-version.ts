import { createHash } from 'node:crypto';
import type { IoMapping } from './io-mapping.ts';

/**
 * A short stable id of a mapping table (16 hex chars of SHA-256), stored beside decoded attributes so a later
 * mapping edit can be detected and the fixes re-decoded. Row order does not matter; any change to any field of
 * any row (including the order of one row's invalidValues) gives a new id.
 */
export function mappingVersion(mappings: readonly IoMapping[]): string {
  // Fixed field order, so the id does not depend on how the row objects were built.
  const rows = mappings
    .map((m) => JSON.stringify([m.ioId, m.attribute, m.valueType, m.byteSize, m.multiplier, m.offset, m.unit, m.invalidValues]))
    // Sorting the serialised rows also orders duplicate ioIds, which sorting by ioId alone would not.
    .sort();
  return createHash('sha256').update(`[${rows.join(',')}]`).digest('hex').slice(0, 16);
}
