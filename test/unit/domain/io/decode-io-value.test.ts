import { describe, expect, it } from 'vitest';
import { decodeIoValue, IoDecodeError } from '../../../../src/domain/io/index.ts';
import type { IoMapping } from '../../../../src/domain/io/index.ts';
import type { RawIoValue } from '../../../../src/domain/position.ts';
import { b64, fmb920, mapping } from './fmb920-mappings.ts';

const MAX_U64 = { __bigint: '18446744073709551615' };

describe('decodeIoValue: FMB920 examples', () => {
  it('scales the Dallas temperature (signed tenths of a degree)', () => {
    expect(decodeIoValue(285, fmb920(72))).toBe(28.5);
    expect(decodeIoValue(4294967244, fmb920(72))).toBe(-5.2);
    expect(decodeIoValue(0, fmb920(72))).toBe(0);
    expect(decodeIoValue(4294967295, fmb920(72))).toBe(-0.1);
  });

  it('turns the Dallas sensor error codes into null', () => {
    for (const code of [850, 2000, 3000, 4000, 5000]) expect(decodeIoValue(code, fmb920(72))).toBeNull();
    expect(decodeIoValue(849, fmb920(72))).toBe(84.9);
  });

  it('scales voltages exactly in decimal', () => {
    expect(decodeIoValue(13650, fmb920(66))).toBe(13.65);
    expect(decodeIoValue(12345, fmb920(66))).toBe(12.345);
    expect(decodeIoValue(4123, fmb920(67))).toBe(4.123);
    expect(decodeIoValue(1, fmb920(9))).toBe(0.001);
    expect(decodeIoValue(65535, fmb920(66))).toBe(65.535);
    expect(decodeIoValue(8, fmb920(181))).toBe(0.8);
    expect(decodeIoValue(3, fmb920(182))).toBe(0.3);
  });

  it('reads the accelerometer axes as signed 2-byte values', () => {
    expect(decodeIoValue(64556, fmb920(19))).toBe(-980);
    expect(decodeIoValue(80, fmb920(17))).toBe(80);
    expect(decodeIoValue(65535, fmb920(18))).toBe(-1);
    expect(decodeIoValue(32767, fmb920(18))).toBe(32767);
    expect(decodeIoValue(32768, fmb920(18))).toBe(-32768);
  });

  it('reads booleans as raw != 0', () => {
    expect(decodeIoValue(1, fmb920(239))).toBe(true);
    expect(decodeIoValue(0, fmb920(240))).toBe(false);
    expect(decodeIoValue(255, fmb920(1))).toBe(true);
    expect(decodeIoValue(b64([0]), fmb920(179))).toBe(false);
  });

  it('reads the iButton id as lower-case hex of its 8 bytes', () => {
    expect(decodeIoValue({ __buffer_b64: 'AZo/IQAAAGU=' }, fmb920(78))).toBe('019a3f2100000065');
    expect(decodeIoValue(b64([0xab, 0xcd, 0xef, 0, 0, 0, 0, 1]), fmb920(78))).toBe('abcdef0000000001');
  });

  it('treats the all-zero iButton as no reading', () => {
    expect(decodeIoValue(b64([0, 0, 0, 0, 0, 0, 0, 0]), fmb920(78))).toBeNull();
    expect(decodeIoValue(0, fmb920(78))).toBeNull();
  });

  it('pads a numeric hex raw to byteSize bytes', () => {
    expect(decodeIoValue(255, fmb920(78))).toBe('00000000000000ff');
    expect(decodeIoValue(MAX_U64, fmb920(78))).toBe('ffffffffffffffff');
  });

  it('reads ISO 6709 coordinates as text, unpadded or NUL-padded', () => {
    const text = '+31.43000-004.23000+750.000/';
    expect(decodeIoValue(b64(text), fmb920(387))).toBe(text);
    expect(decodeIoValue(b64(text.padEnd(34, '\0')), fmb920(387))).toBe(text);
    expect(decodeIoValue(b64(''), fmb920(387))).toBe('');
  });

  it('reads ascii from a number as its big-endian bytes, padding NULs removed', () => {
    const ascii = mapping({ valueType: 'ascii', byteSize: 4 });
    expect(decodeIoValue(0x41424344, ascii)).toBe('ABCD');
    expect(decodeIoValue(0x41420000, ascii)).toBe('AB');
    expect(decodeIoValue(0x00004142, ascii)).toBe('AB');
    expect(decodeIoValue(0, ascii)).toBe('');
  });

  // Regression: an FMB920 reported element 387 as the number 65; widened to its 34 bytes that was 33 NULs and "A",
  // text that jsonb refuses, and every batch holding the fix failed on every retry.
  it('reads the ascii element 387 sent as a number without its leading NULs', () => {
    expect(decodeIoValue(65, fmb920(387))).toBe('A');
    expect(decodeIoValue(65, mapping({ valueType: 'ascii', byteSize: 8 }))).toBe('A');
    expect(decodeIoValue(b64('\0\0+31.4/\0'), fmb920(387))).toBe('+31.4/');
  });

  it('refuses ascii with a NUL between its characters, which Postgres cannot store', () => {
    const ascii = mapping({ valueType: 'ascii', byteSize: 4 });
    expect(() => decodeIoValue(0x41004200, ascii)).toThrow(IoDecodeError);
    expect(() => decodeIoValue(b64('A\0B'), ascii)).toThrow('ascii text has a NUL byte at position 1 between its characters, which cannot be stored as text');
  });

  it('keeps every bit of the 8-byte odometer', () => {
    expect(decodeIoValue({ __bigint: '123456789' }, fmb920(16))).toBe(123456789);
    expect(decodeIoValue({ __bigint: '9007199254740991' }, fmb920(16))).toBe(9007199254740991);
    expect(decodeIoValue({ __bigint: '9007199254740993' }, fmb920(16))).toBe('9007199254740993');
    expect(decodeIoValue(MAX_U64, fmb920(16))).toBe('18446744073709551615');
    expect(decodeIoValue({ __bigint: '8935101811542155001' }, fmb920(11))).toBe('8935101811542155001');
  });

  it('reads 0xFFFFFFFFFFFFFFFF as unsigned and as signed', () => {
    expect(decodeIoValue(MAX_U64, mapping({ byteSize: 8 }))).toBe('18446744073709551615');
    expect(decodeIoValue(MAX_U64, mapping({ valueType: 'signed', byteSize: 8 }))).toBe(-1);
    expect(decodeIoValue({ __bigint: '9223372036854775808' }, mapping({ valueType: 'signed', byteSize: 8 }))).toBe('-9223372036854775808');
    expect(decodeIoValue(b64([255, 255, 255, 255, 255, 255, 255, 255]), mapping({ valueType: 'signed', byteSize: 8 }))).toBe(-1);
  });

  it('reads integer buffers big-endian', () => {
    expect(decodeIoValue(b64([0x35, 0x52]), fmb920(66))).toBe(13.65);
    expect(decodeIoValue(b64([0xfc, 0x2c]), fmb920(19))).toBe(-980);
  });
});

describe('decodeIoValue: exact scaling', () => {
  it('returns a number only when it is exactly the decimal result', () => {
    const milli8 = mapping({ byteSize: 8, multiplier: 0.001 });
    expect(decodeIoValue(MAX_U64, milli8)).toBe('18446744073709551.615');
    expect(decodeIoValue({ __bigint: '9007199254740993' }, mapping({ byteSize: 8, multiplier: 0.5 }))).toBe('4503599627370496.5');
    expect(decodeIoValue({ __bigint: '123456789012' }, milli8)).toBe(123456789.012);
  });

  it('applies multiplier then offset, both read as their shortest decimal', () => {
    expect(decodeIoValue(1, mapping({ multiplier: 0.1, offset: 0.2 }))).toBe(0.3);
    expect(decodeIoValue(2, mapping({ multiplier: 0.1, offset: -40 }))).toBe(-39.8);
    expect(decodeIoValue(5, mapping({ multiplier: 10 }))).toBe(50);
    expect(decodeIoValue(3, mapping({ multiplier: 1e-7 }))).toBe(3e-7);
    expect(decodeIoValue(0, mapping({ multiplier: -1 }))).toBe(0);
    expect(Object.is(decodeIoValue(0, mapping({ multiplier: -1 })), -0)).toBe(false);
    expect(decodeIoValue(25, mapping({ multiplier: 0.01, offset: 273.15 }))).toBe(273.4);
  });

  it('leaves booleans, hex and ascii unscaled', () => {
    expect(decodeIoValue(3, mapping({ valueType: 'boolean', byteSize: 1, multiplier: Number.NaN }))).toBe(true);
    expect(decodeIoValue(3, mapping({ valueType: 'hex', byteSize: 1, multiplier: 0.1, offset: 4 }))).toBe('03');
  });
});

describe('decodeIoValue: invalid values', () => {
  it('compares the raw value before sign conversion', () => {
    const signed = mapping({ valueType: 'signed', byteSize: 2, invalidValues: [65535] });
    expect(decodeIoValue(65535, signed)).toBeNull();
    expect(decodeIoValue(65534, signed)).toBe(-2);
  });

  it('compares decimal strings numerically, 64-bit included', () => {
    const odometer = mapping({ byteSize: 8, invalidValues: ['18446744073709551615', '0'] });
    expect(decodeIoValue(MAX_U64, odometer)).toBeNull();
    expect(decodeIoValue(0, odometer)).toBeNull();
    expect(decodeIoValue({ __bigint: '0' }, odometer)).toBeNull();
    expect(decodeIoValue(b64([0, 0, 0, 0, 0, 0, 0, 0]), odometer)).toBeNull();
    expect(decodeIoValue(1, odometer)).toBe(1);
  });

  it('compares hex strings case-insensitively to the hex form, numbers to the integer', () => {
    const ibutton = mapping({ valueType: 'hex', byteSize: 2, invalidValues: ['FFFF', 1] });
    expect(decodeIoValue(b64([255, 255]), ibutton)).toBeNull();
    expect(decodeIoValue(65535, ibutton)).toBeNull();
    expect(decodeIoValue(b64([0, 1]), ibutton)).toBeNull();
    expect(decodeIoValue(b64([0, 2]), ibutton)).toBe('0002');
  });

  it('compares ascii strings to the text', () => {
    const text = mapping({ valueType: 'ascii', byteSize: 8, invalidValues: ['N/A'] });
    expect(decodeIoValue(b64('N/A\0\0'), text)).toBeNull();
    expect(decodeIoValue(b64('N/AB'), text)).toBe('N/AB');
  });
});

describe('decodeIoValue: guards', () => {
  const cases: [string, RawIoValue, IoMapping, string][] = [
    ['a raw number too large for byteSize', 65536, fmb920(19), 'raw value 65536 does not fit in 2 bytes'],
    ['a 1-byte overflow', 256, fmb920(239), 'raw value 256 does not fit in 1 byte'],
    ['a __bigint too large', { __bigint: '18446744073709551616' }, fmb920(16), 'raw value 18446744073709551616 does not fit in 8 bytes'],
    ['a negative raw number', -52, fmb920(72), 'raw value -52 is negative: raw values are unsigned wire integers'],
    ['a negative __bigint', { __bigint: '-1' }, fmb920(16), 'raw value -1 is negative: raw values are unsigned wire integers'],
    ['a non-integer raw number', 28.5, fmb920(72), 'raw value 28.5 is not an integer'],
    ['NaN', Number.NaN, fmb920(72), 'raw value NaN is not an integer'],
    ['Infinity', Number.POSITIVE_INFINITY, fmb920(72), 'raw value Infinity is not an integer'],
    ['a non-integer raw number for hex', 1.5, fmb920(78), 'raw value 1.5 is not an integer'],
    [
      'an unsafe raw number',
      2 ** 60,
      fmb920(16),
      'raw value 1152921504606847000 is above 2^53-1 and may have lost precision: send it as {"__bigint": "..."}',
    ],
    ['a malformed __bigint', { __bigint: '12x' }, fmb920(16), '__bigint "12x" is not a decimal integer'],
    ['an empty __bigint', { __bigint: '' }, fmb920(16), '__bigint "" is not a decimal integer'],
    ['malformed base64', { __buffer_b64: 'AZo/IQAAAGU' }, fmb920(78), '__buffer_b64 "AZo/IQAAAGU" is not valid base64'],
    // Megabytes: checked without running out of stack, and quoted only in part.
    ['megabytes of base64', { __buffer_b64: 'A'.repeat(4_000_000) }, fmb920(78), 'buffer of 3000000 bytes does not match byteSize 8'],
    ['megabytes of malformed base64', { __buffer_b64: `${'A'.repeat(4_000_000)}*` }, fmb920(78), `__buffer_b64 "${'A'.repeat(40)}…" is not valid base64`],
    ['a short hex buffer', b64([1, 2, 3]), fmb920(78), 'buffer of 3 bytes does not match byteSize 8'],
    ['a long integer buffer', b64([0, 1, 2]), fmb920(66), 'buffer of 3 bytes does not match byteSize 2'],
    ['a short integer buffer', b64([1]), fmb920(66), 'buffer of 1 byte does not match byteSize 2'],
    ['a short boolean buffer', b64([]), fmb920(239), 'buffer of 0 bytes does not match byteSize 1'],
    ['a long ascii buffer', b64('x'.repeat(35)), fmb920(387), 'buffer of 35 bytes is longer than byteSize 34'],
    ['a string raw', 'abc' as unknown as RawIoValue, fmb920(66), 'raw value "abc" is not a number, {"__bigint"} or {"__buffer_b64"}'],
    ['a null raw', null as unknown as RawIoValue, fmb920(66), 'raw value null is not a number, {"__bigint"} or {"__buffer_b64"}'],
    ['a bigint raw', 5n as unknown as RawIoValue, fmb920(66), 'raw value 5n is not a number, {"__bigint"} or {"__buffer_b64"}'],
    ['byteSize 0', 1, mapping({ byteSize: 0 }), 'byteSize must be an integer in 1..255, got 0'],
    ['byteSize 256', 1, mapping({ byteSize: 256 }), 'byteSize must be an integer in 1..255, got 256'],
    ['a fractional byteSize', 1, mapping({ byteSize: 1.5 }), 'byteSize must be an integer in 1..255, got 1.5'],
    ['an unknown valueType', 1, mapping({ valueType: 'float' as IoMapping['valueType'] }), 'valueType "float" is not one of unsigned, signed, boolean, hex, ascii'],
    ['a NaN multiplier', 1, mapping({ multiplier: Number.NaN }), 'multiplier must be a finite number, got NaN'],
    ['an infinite offset', 1, mapping({ valueType: 'signed', offset: Number.NEGATIVE_INFINITY }), 'offset must be a finite number, got -Infinity'],
    [
      'a negative invalid value',
      1,
      mapping({ valueType: 'signed', invalidValues: [-1] }),
      'invalidValues entry -1 is not a raw value: write a non-negative safe integer, or a decimal string for 64-bit values',
    ],
    [
      'an unsafe invalid value',
      1,
      mapping({ byteSize: 8, invalidValues: [2 ** 64] }),
      'invalidValues entry 18446744073709552000 is not a raw value: write a non-negative safe integer, or a decimal string for 64-bit values',
    ],
    ['a non-decimal invalid string', 1, mapping({ invalidValues: ['0xff'] }), 'invalidValues entry "0xff" is not a non-negative decimal integer'],
    ['a wrong-width hex invalid value', 1, mapping({ valueType: 'hex', byteSize: 2, invalidValues: ['00'] }), 'invalidValues entry "00" is not 4 hex digits (byteSize 2)'],
    ['a boolean invalid value', 1, mapping({ invalidValues: [true as unknown as number] }), 'invalidValues entry true is neither a number nor a string'],
  ];

  it.each(cases)('refuses %s', (_, raw, row, message) => {
    let caught: unknown;
    try {
      decodeIoValue(raw, row);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(IoDecodeError);
    expect(caught).toMatchObject({ name: 'IoDecodeError', message });
  });
});
