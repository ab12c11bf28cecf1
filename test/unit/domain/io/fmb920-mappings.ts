import { fmb920IoMapping } from '../../../../src/demo/fmb920-io.ts';
import type { IoMapping } from '../../../../src/domain/io/index.ts';

/** The demo FMB920 table as IoMapping rows (camelCase), the realistic fixture for these tests. */
export const fmb920Mappings: IoMapping[] = fmb920IoMapping.map((row) => ({
  ioId: row.io_id,
  attribute: row.attribute,
  valueType: row.value_type,
  byteSize: row.byte_size,
  multiplier: row.multiplier,
  offset: row.offset,
  unit: row.unit,
  invalidValues: row.invalid_values,
}));

export const fmb920ById: ReadonlyMap<number, IoMapping> = new Map(fmb920Mappings.map((m) => [m.ioId, m]));

/** The FMB920 row for an IO id; throws so a typo in a test fails loudly. */
export function fmb920(ioId: number): IoMapping {
  const mapping = fmb920ById.get(ioId);
  if (mapping === undefined) throw new Error(`no FMB920 mapping for IO ${ioId}`);
  return mapping;
}

export const b64 = (bytes: number[] | string, encoding: BufferEncoding = 'latin1'): { __buffer_b64: string } => ({
  __buffer_b64: (typeof bytes === 'string' ? Buffer.from(bytes, encoding) : Buffer.from(bytes)).toString('base64'),
});

export const mapping = (overrides: Partial<IoMapping> = {}): IoMapping => ({
  ioId: 9000,
  attribute: 'test_value',
  valueType: 'unsigned',
  byteSize: 4,
  multiplier: 1,
  offset: 0,
  unit: null,
  invalidValues: null,
  ...overrides,
});
