import { describe, expect, it } from 'vitest';
import { decodeIoValue, ioValueDecoder, type IoMapping } from '../../../../src/domain/io/index.ts';
import { addDecimals, decimalFromNumber, decimalToOutput, multiplyDecimals } from '../../../../src/domain/io/exact-decimal.ts';
import { fmb920Mappings, mapping } from './fmb920-mappings.ts';

// The prepared decoder takes number shortcuts where they are provably exact; this is the rule they must match,
// written out with exact decimal arithmetic only.
function reference(raw: number | bigint, row: IoMapping): unknown {
  const integer = BigInt(raw);
  if ((row.invalidValues ?? []).some((v) => BigInt(v) === integer)) return null;
  if (row.valueType === 'boolean') return integer !== 0n;
  const bits = BigInt(8 * row.byteSize);
  const value = row.valueType === 'signed' && integer >= 1n << (bits - 1n) ? integer - (1n << bits) : integer;
  return decimalToOutput(addDecimals(multiplyDecimals({ digits: value, exponent: 0 }, decimalFromNumber(row.multiplier)), decimalFromNumber(row.offset)));
}
const rows: IoMapping[] = [
  ...fmb920Mappings.filter((m) => m.valueType !== 'hex' && m.valueType !== 'ascii'),
  ...[0.1, 0.001, 0.25, -0.5, 1e-7, 3, 1000, 1e20, 123456.789, 0.3].flatMap((multiplier) =>
    [0, 1.5, -40].flatMap((offset) =>
      ([1, 2, 4, 6, 7] as const).flatMap((byteSize) =>
        (['unsigned', 'signed'] as const).map((valueType) => mapping({ valueType, byteSize, multiplier, offset, invalidValues: [850, '65535'] })),
      ),
    ),
  ),
];

function samples(byteSize: number): number[] {
  const top = Math.min(2 ** (8 * byteSize), Number.MAX_SAFE_INTEGER + 1) - 1;
  const edges = [0, 1, 850, 65535, 2 ** 31, 2 ** (8 * byteSize - 1) - 1, 2 ** (8 * byteSize - 1), top, top - 1, 999_999_999_999_999];
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const spread = Array.from({ length: 200 }, () => Math.floor(random() ** 3 * top));
  return [...edges, ...spread].filter((n) => n >= 0 && n <= top);
}

describe('ioValueDecoder', () => {
  it('decodes plain integers and __bigint exactly as decimal arithmetic does', () => {
    for (const row of rows) {
      const decode = ioValueDecoder(row);
      for (const raw of samples(row.byteSize)) {
        expect([row, raw, decode(raw)]).toEqual([row, raw, reference(raw, row)]);
        expect([row, raw, decode({ __bigint: String(raw) })]).toEqual([row, raw, reference(raw, row)]);
      }
    }
  });

  it('gives the same values and errors as decodeIoValue, for good and bad raws', () => {
    const raws = [0, 1, -1, 1.5, 2 ** 53, 70000, -0, { __bigint: '12' }, { __buffer_b64: 'AQI=' }, { __bigint: 'x' }] as never[];
    for (const row of [...fmb920Mappings, mapping({ byteSize: 0 })]) {
      const decode = ioValueDecoder(row);
      for (const raw of raws) {
        const outcome = (f: () => unknown) => {
          try {
            return { value: f() };
          } catch (error) {
            return { error: (error as Error).message, name: (error as Error).name };
          }
        };
        expect(outcome(() => decode(raw))).toEqual(outcome(() => decodeIoValue(raw, row)));
      }
    }
  });

  it('decodes 64-bit __bigint values exactly as decimal arithmetic does', () => {
    const wide = [1, 0.1, 3, 0.001].flatMap((multiplier) =>
      (['unsigned', 'signed'] as const).map((valueType) => mapping({ valueType, byteSize: 8, multiplier, invalidValues: ['18446744073709551614'] })),
    );
    const raws = [0n, 9007199254740991n, 9007199254740993n, 2n ** 63n - 1n, 2n ** 63n, 18446744073709551614n, 18446744073709551615n];
    for (const row of wide) {
      for (const raw of raws) expect([row, raw, ioValueDecoder(row)({ __bigint: String(raw) })]).toEqual([row, raw, reference(raw, row)]);
    }
  });

  it('turns -0 into 0, as the decimal path does', () => {
    expect(Object.is(ioValueDecoder(mapping({ multiplier: -0.5 }))(0), 0)).toBe(true);
  });
});
