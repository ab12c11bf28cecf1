import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeIoValue, encodeIoValue, IoDecodeError } from '../../../../src/domain/io/index.ts';
import type { IoMapping } from '../../../../src/domain/io/index.ts';
import type { RawIoValue } from '../../../../src/domain/position.ts';
import { mapping } from './fmb920-mappings.ts';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** The wire form the ingestion service uses for an unsigned integer. */
const rawOf = (integer: bigint): RawIoValue => (integer <= MAX_SAFE ? Number(integer) : { __bigint: integer.toString() });
/** The decoded form of an exact integer: a number when safe, else its decimal string. */
const valueOf = (integer: bigint): number | string =>
  integer >= -MAX_SAFE && integer <= MAX_SAFE ? Number(integer) : integer.toString();
const bufferOf = (integer: bigint, size: number): RawIoValue => ({
  __buffer_b64: Buffer.from(integer.toString(16).padStart(2 * size, '0'), 'hex').toString('base64'),
});

const byteSize = fc.integer({ min: 1, max: 16 });
const unsignedRaw = byteSize.chain((n) => fc.tuple(fc.constant(n), fc.bigInt({ min: 0n, max: (1n << BigInt(8 * n)) - 1n })));
const signedValue = byteSize.chain((n) => {
  const half = 1n << BigInt(8 * n - 1);
  return fc.tuple(fc.constant(n), fc.bigInt({ min: -half, max: half - 1n }));
});

describe('round trips, unscaled', () => {
  it('unsigned: decode(encode(v)) === v and encode(decode(raw)) equals raw', () => {
    fc.assert(
      fc.property(unsignedRaw, ([n, integer]) => {
        const row = mapping({ byteSize: n });
        expect(decodeIoValue(encodeIoValue(valueOf(integer), row), row)).toBe(valueOf(integer));
        expect(encodeIoValue(decodeIoValue(rawOf(integer), row)!, row)).toEqual(rawOf(integer));
      }),
    );
  });

  it('signed: decode(encode(v)) === v for every value in range', () => {
    fc.assert(
      fc.property(signedValue, ([n, integer]) => {
        const row = mapping({ valueType: 'signed', byteSize: n });
        expect(decodeIoValue(encodeIoValue(valueOf(integer), row), row)).toBe(valueOf(integer));
      }),
    );
  });

  it('signed: decoding any raw gives a value in [-2^(8n-1), 2^(8n-1)-1], and encodes back to the raw', () => {
    fc.assert(
      fc.property(unsignedRaw, ([n, integer]) => {
        const row = mapping({ valueType: 'signed', byteSize: n });
        const decoded = decodeIoValue(rawOf(integer), row)!;
        const value = BigInt(String(decoded));
        const half = 1n << BigInt(8 * n - 1);
        expect(value >= -half && value <= half - 1n).toBe(true);
        expect(value === integer || value === integer - 2n * half).toBe(true);
        expect(encodeIoValue(decoded, row)).toEqual(rawOf(integer));
      }),
    );
  });

  it('numbers, __bigint and big-endian buffers of the same integer decode alike', () => {
    fc.assert(
      fc.property(unsignedRaw, fc.constantFrom<IoMapping['valueType']>('unsigned', 'signed', 'boolean', 'hex'), ([n, integer], valueType) => {
        const row = mapping({ valueType, byteSize: n });
        const decoded = decodeIoValue({ __bigint: integer.toString() }, row);
        expect(decodeIoValue(bufferOf(integer, n), row)).toBe(decoded);
        if (integer <= MAX_SAFE) expect(decodeIoValue(Number(integer), row)).toBe(decoded);
      }),
    );
  });

  it('boolean: both values and the canonical raws round trip', () => {
    fc.assert(
      fc.property(fc.boolean(), byteSize, (value, n) => {
        const row = mapping({ valueType: 'boolean', byteSize: n });
        expect(decodeIoValue(encodeIoValue(value, row), row)).toBe(value);
        expect(encodeIoValue(decodeIoValue(value ? 1 : 0, row)!, row)).toBe(value ? 1 : 0);
      }),
    );
  });

  it('hex: any byteSize bytes round trip on both sides', () => {
    fc.assert(
      fc.property(byteSize.chain((n) => fc.uint8Array({ minLength: n, maxLength: n })), (bytes) => {
        const row = mapping({ valueType: 'hex', byteSize: bytes.length });
        const raw = { __buffer_b64: Buffer.from(bytes).toString('base64') };
        const hex = Buffer.from(bytes).toString('hex');
        expect(decodeIoValue(raw, row)).toBe(hex);
        expect(encodeIoValue(hex, row)).toEqual(raw);
      }),
    );
  });

  // Text with a NUL cannot round trip: NULs around it are padding (stripped), and one inside cannot be stored in
  // jsonb (refused, see the next test). Every text without one does.
  it('ascii: any Latin-1 text without NUL bytes round trips on both sides', () => {
    const bytes = fc.uint8Array({ min: 1, maxLength: 40 });
    fc.assert(
      fc.property(bytes, fc.nat({ max: 20 }), (text, spare) => {
        const row = mapping({ valueType: 'ascii', byteSize: Math.max(1, text.length + spare) });
        const raw = { __buffer_b64: Buffer.from(text).toString('base64') };
        const value = decodeIoValue(raw, row);
        expect(value).toBe(Buffer.from(text).toString('latin1'));
        expect(encodeIoValue(value!, row)).toEqual(raw);
      }),
    );
  });
});

describe('ascii NULs', () => {
  it('NULs around the text are padding: decoding strips them, and the text encodes back without them', () => {
    const text = fc.uint8Array({ min: 1, maxLength: 20 });
    fc.assert(
      fc.property(text, fc.nat({ max: 8 }), fc.nat({ max: 8 }), (bytes, before, after) => {
        const padded = Buffer.concat([Buffer.alloc(before), Buffer.from(bytes), Buffer.alloc(after)]);
        const row = mapping({ valueType: 'ascii', byteSize: Math.max(1, padded.length) });
        const value = decodeIoValue({ __buffer_b64: padded.toString('base64') }, row);
        expect(value).toBe(Buffer.from(bytes).toString('latin1'));
        expect(encodeIoValue(value!, row)).toEqual({ __buffer_b64: Buffer.from(bytes).toString('base64') });
      }),
    );
  });

  it('a NUL between characters is a decode error, never text with a NUL', () => {
    const text = fc.tuple(fc.uint8Array({ min: 1, minLength: 1, maxLength: 10 }), fc.uint8Array({ min: 1, minLength: 1, maxLength: 10 }));
    fc.assert(
      fc.property(text, fc.integer({ min: 1, max: 4 }), ([head, tail], nuls) => {
        const bytes = Buffer.concat([Buffer.from(head), Buffer.alloc(nuls), Buffer.from(tail)]);
        const row = mapping({ valueType: 'ascii', byteSize: bytes.length });
        expect(() => decodeIoValue({ __buffer_b64: bytes.toString('base64') }, row)).toThrow(IoDecodeError);
      }),
    );
  });
});

describe('round trips, scaled', () => {
  const multipliers = [0.1, 0.001, 10, 0.5, 0.25, 0.01, 1e-7, 2.5, -0.1, 3];
  const offsets = [0, -40, 0.5, 273.15, -0.001];

  it('encode(decode(raw)) equals raw for every multiplier, offset, type and size', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }).chain((n) => fc.tuple(fc.constant(n), fc.bigInt({ min: 0n, max: (1n << BigInt(8 * n)) - 1n }))),
        fc.constantFrom(...multipliers),
        fc.constantFrom(...offsets),
        fc.constantFrom<IoMapping['valueType']>('unsigned', 'signed'),
        ([n, integer], multiplier, offset, valueType) => {
          const row = mapping({ valueType, byteSize: n, multiplier, offset });
          const decoded = decodeIoValue(rawOf(integer), row)!;
          expect(encodeIoValue(decoded, row)).toEqual(rawOf(integer));
        },
      ),
      { numRuns: 500 },
    );
  });

  /** raw / 10^k as exact decimal text, worked out with strings alone. */
  const dividedByPowerOfTen = (integer: bigint, k: number): string => {
    const digits = (integer < 0n ? -integer : integer).toString().padStart(k + 1, '0');
    const text = `${digits.slice(0, -k)}.${digits.slice(-k)}`.replace(/\.?0+$/, '');
    return integer < 0n && text !== '0' ? `-${text}` : text;
  };

  it('a scaled number is exactly the decimal result (never 12.345000000000001)', () => {
    fc.assert(
      fc.property(unsignedRaw.filter(([n]) => n <= 8), fc.constantFrom(1, 2, 3), ([n, integer], k) => {
        const row = mapping({ valueType: 'signed', byteSize: n, multiplier: Number(`1e-${k}`) });
        const half = 1n << BigInt(8 * n - 1);
        const exact = dividedByPowerOfTen(integer >= half ? integer - 2n * half : integer, k);
        const decoded = decodeIoValue(rawOf(integer), row);
        expect(String(decoded)).toBe(exact);
        // A string only when no number would do: an unsafe integer, or a fraction a double cannot print exactly.
        if (typeof decoded === 'string') {
          const unsafeInteger = !exact.includes('.') && !Number.isSafeInteger(Number(exact));
          expect(unsafeInteger || String(Number(decoded)) !== exact).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});
