/**
 * How one Teltonika IO element of one device model is read (CONTRACTS section 3, `io_mappings`), in camelCase.
 * `invalidValues` are RAW wire values (before sign conversion and scaling) that mean "no reading".
 */
export interface IoMapping {
  ioId: number;
  attribute: string;
  valueType: 'unsigned' | 'signed' | 'boolean' | 'hex' | 'ascii';
  byteSize: number;
  multiplier: number;
  offset: number;
  unit: string | null;
  invalidValues: readonly (number | string)[] | null;
}

/**
 * A decoded IO value. Numbers are exact (see decodeIoValue); a value a JS number cannot hold exactly is its exact
 * decimal string. `null` means "no reading" (the raw value is one of the mapping's invalid values).
 */
export type DecodedValue = number | string | boolean | null;
