import { describe, expect, it } from 'vitest';
import { encodeIoValue, IoEncodeError } from '../../../../src/domain/io/index.ts';
import type { DecodedValue, IoMapping } from '../../../../src/domain/io/index.ts';
import { b64, fmb920, mapping } from './fmb920-mappings.ts';

describe('encodeIoValue: FMB920 examples', () => {
  it('encodes scaled and signed readings as their unsigned wire integers', () => {
    expect(encodeIoValue(28.5, fmb920(72))).toBe(285);
    expect(encodeIoValue(-5.2, fmb920(72))).toBe(4294967244);
    expect(encodeIoValue(13.65, fmb920(66))).toBe(13650);
    expect(encodeIoValue(12.345, fmb920(66))).toBe(12345);
    expect(encodeIoValue(-980, fmb920(19))).toBe(64556);
    expect(encodeIoValue('-980', fmb920(19))).toBe(64556);
  });

  it('encodes booleans as 1 and 0', () => {
    expect(encodeIoValue(true, fmb920(239))).toBe(1);
    expect(encodeIoValue(false, fmb920(240))).toBe(0);
  });

  it('encodes 64-bit values beyond 2^53-1 as __bigint', () => {
    expect(encodeIoValue('18446744073709551615', fmb920(16))).toEqual({ __bigint: '18446744073709551615' });
    expect(encodeIoValue(9007199254740991, fmb920(16))).toBe(9007199254740991);
    expect(encodeIoValue('9007199254740992', fmb920(16))).toEqual({ __bigint: '9007199254740992' });
    expect(encodeIoValue(-1, mapping({ valueType: 'signed', byteSize: 8 }))).toEqual({ __bigint: '18446744073709551615' });
    expect(encodeIoValue('18446744073709551.615', mapping({ byteSize: 8, multiplier: 0.001 }))).toEqual({
      __bigint: '18446744073709551615',
    });
  });

  it('encodes hex and ascii as buffers', () => {
    expect(encodeIoValue('019a3f2100000065', fmb920(78))).toEqual({ __buffer_b64: 'AZo/IQAAAGU=' });
    expect(encodeIoValue('019A3F2100000065', fmb920(78))).toEqual({ __buffer_b64: 'AZo/IQAAAGU=' });
    const text = '+31.43000-004.23000+750.000/';
    expect(encodeIoValue(text, fmb920(387))).toEqual(b64(text));
    expect(encodeIoValue('', fmb920(387))).toEqual({ __buffer_b64: '' });
    expect(encodeIoValue('é', mapping({ valueType: 'ascii', byteSize: 1 }))).toEqual(b64([0xe9]));
  });

  it('inverts an offset exactly', () => {
    expect(encodeIoValue(-39.8, mapping({ multiplier: 0.1, offset: -40 }))).toBe(2);
    expect(encodeIoValue(273.4, mapping({ multiplier: 0.01, offset: 273.15 }))).toBe(25);
  });
});

describe('encodeIoValue: guards', () => {
  const cases: [string, Exclude<DecodedValue, null>, IoMapping, string][] = [
    ['a value between two raw steps', 12.3456, fmb920(66), 'value 12.3456 is not offset 0 plus a whole multiple of multiplier 0.001'],
    ['a value below an unsigned range', -1, fmb920(66), 'raw integer -1000 is outside 0..65535 for an unsigned 2-byte value'],
    ['a value above a signed range', 32768, fmb920(19), 'raw integer 32768 is outside -32768..32767 for a signed 2-byte value'],
    ['a sensor error code', 85, fmb920(72), 'value 85 encodes to raw 850, which the mapping lists as invalid'],
    ['the all-zero iButton', '0000000000000000', fmb920(78), 'value "0000000000000000" encodes to raw {"__buffer_b64":"AAAAAAAAAAA="}, which the mapping lists as invalid'],
    ['a boolean for a number', true, fmb920(66), 'value true is not a finite number or a decimal string'],
    ['NaN', Number.NaN, fmb920(66), 'value NaN is not a finite number or a decimal string'],
    ['a non-decimal string', 'abc', fmb920(66), 'value "abc" is not a finite number or a decimal string'],
    ['a number for a boolean', 1, fmb920(239), 'value 1 is not a boolean'],
    ['short hex', '019a', fmb920(78), 'value "019a" is not 16 hex digits (byteSize 8)'],
    ['a number for hex', 5, fmb920(78), 'value 5 is not 16 hex digits (byteSize 8)'],
    ['a number for ascii', 5, fmb920(387), 'value 5 is not a string'],
    ['non-Latin-1 text', '€', fmb920(387), 'value "€" has characters outside Latin-1'],
    ['text longer than byteSize', 'abc', mapping({ valueType: 'ascii', byteSize: 2 }), 'value "abc" is 3 bytes, more than byteSize 2'],
    ['text ending in NUL', 'a\u0000', fmb920(387), 'value "a\\u0000" has a NUL byte, which decoding strips or refuses'],
    ['text starting with NUL', '\u0000a', fmb920(387), 'value "\\u0000a" has a NUL byte, which decoding strips or refuses'],
    ['text with a NUL inside', 'a\u0000b', fmb920(387), 'value "a\\u0000b" has a NUL byte, which decoding strips or refuses'],
    ['a zero multiplier', 0, mapping({ multiplier: 0 }), 'multiplier 0 cannot be inverted'],
    ['a bad mapping', 1, mapping({ byteSize: 0 }), 'byteSize must be an integer in 1..255, got 0'],
  ];

  it.each(cases)('refuses %s', (_, value, row, message) => {
    let caught: unknown;
    try {
      encodeIoValue(value, row);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(IoEncodeError);
    expect(caught).toMatchObject({ name: 'IoEncodeError', message });
  });
});
