import type { IoMapping } from './io-mapping.ts';
import { cutShort } from '../cut-short.ts';
import { unstorableTextProblem } from './storable-text.ts';

const VALUE_TYPES: ReadonlySet<string> = new Set(['unsigned', 'signed', 'boolean', 'hex', 'ascii']);

/** What is wrong with a mapping row, and in which of its fields. */
export interface IoMappingFieldProblem {
  field: keyof IoMapping;
  message: string;
}

/** The decoder's own names, for an IO element without a mapping and for why an element could not be decoded. */
const DECODER_NAME = /^io_\d+(_error)?$/;

/**
 * What is wrong with a mapping row, or null when it can be used. Rows come from the database (edited by hand in
 * Directus), so they are checked at every use; decode and encode each throw their own error class with this text.
 */
export function ioMappingProblem(mapping: IoMapping): string | null {
  return ioMappingFieldProblem(mapping)?.message ?? null;
}

/** ioMappingProblem with the field it is about (for refusing the row where it is written). */
export function ioMappingFieldProblem(mapping: IoMapping): IoMappingFieldProblem | null {
  const { ioId, attribute, valueType, byteSize, multiplier, offset, invalidValues } = mapping;
  // The wire's IO ids are two bytes (Codec 8 Extended); Codec 8's one byte is among them. An id that is no whole
  // number is not this check's (the column refuses it, and a row read from the database always has one).
  if (Number.isInteger(ioId) && (ioId < 0 || ioId > 65_535)) return { field: 'ioId', message: `ioId must be an IO id of the wire, 0 to 65535, got ${ioId}` };
  // The attribute is a key of the decoded jsonb: a name Postgres cannot store would refuse the whole fix.
  if (typeof attribute !== 'string') return { field: 'attribute', message: `attribute must be a string, got ${typeof attribute}` };
  const unstorable = unstorableTextProblem(attribute);
  // JSON.stringify escapes NUL and lone surrogates, so the message itself can be stored.
  if (unstorable !== null) return { field: 'attribute', message: `attribute ${JSON.stringify(attribute)} has ${unstorable}` };
  if (attribute.trim() === '') return { field: 'attribute', message: 'attribute must name the value: an empty name is no key a reader can ask for' };
  if (DECODER_NAME.test(attribute)) return { field: 'attribute', message: `attribute ${JSON.stringify(attribute)} is a name the decoder gives elements without a mapping (io_<id>) and their errors: give it a name of its own` };
  // The rows are kept as jsonb with each revision of the mapping (and the unit shown beside values): one text Postgres
  // cannot store there stopped every reload of the race setup.
  const badUnit = typeof mapping.unit === 'string' ? unstorableTextProblem(mapping.unit) : null;
  if (badUnit !== null) return { field: 'unit', message: `unit ${JSON.stringify(mapping.unit)} has ${badUnit}` };
  if (!VALUE_TYPES.has(valueType)) return { field: 'valueType', message: `valueType ${JSON.stringify(valueType)} is not one of unsigned, signed, boolean, hex, ascii` };
  if (!Number.isInteger(byteSize) || byteSize < 1 || byteSize > 255) return { field: 'byteSize', message: `byteSize must be an integer in 1..255, got ${byteSize}` };
  // Scaling only applies to numeric readings, so a stray multiplier on a boolean row does not block it.
  if (valueType === 'unsigned' || valueType === 'signed') {
    if (!Number.isFinite(multiplier)) return { field: 'multiplier', message: `multiplier must be a finite number, got ${multiplier}` };
    if (!Number.isFinite(offset)) return { field: 'offset', message: `offset must be a finite number, got ${offset}` };
  }
  // A json column edited by hand may hold anything: only a list can be read as raw values.
  if (invalidValues !== null && invalidValues !== undefined && !Array.isArray(invalidValues)) {
    // Shown cut short: the message goes into the decoded attributes of every fix of the model.
    return { field: 'invalidValues', message: `invalidValues must be a list of raw values, got ${cutShort(String(JSON.stringify(invalidValues)), 80)}` };
  }
  for (const entry of invalidValues ?? []) {
    const problem = invalidValueProblem(entry, mapping);
    if (problem !== null) return { field: 'invalidValues', message: problem };
  }
  return null;
}

function invalidValueProblem(entry: unknown, { valueType, byteSize }: IoMapping): string | null {
  if (typeof entry === 'number') {
    // Invalid values are raw wire values; -1 on a signed row must be written as its unsigned form (65535 on 2 bytes).
    if (!Number.isSafeInteger(entry) || entry < 0) {
      return `invalidValues entry ${entry} is not a raw value: write a non-negative safe integer, or a decimal string for 64-bit values`;
    }
    return null;
  }
  if (typeof entry !== 'string') return `invalidValues entry ${JSON.stringify(entry)} is neither a number nor a string`;
  const unstorable = unstorableTextProblem(entry);
  if (unstorable !== null) return `invalidValues entry ${JSON.stringify(entry)} has ${unstorable}`;
  if (valueType === 'hex') {
    const hex = new RegExp(`^[0-9a-fA-F]{${2 * byteSize}}$`);
    return hex.test(entry) ? null : `invalidValues entry "${entry}" is not ${2 * byteSize} hex digits (byteSize ${byteSize})`;
  }
  if (valueType === 'ascii') return null;
  return /^\d+$/.test(entry) ? null : `invalidValues entry "${entry}" is not a non-negative decimal integer`;
}
