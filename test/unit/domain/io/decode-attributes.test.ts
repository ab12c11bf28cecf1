import { describe, expect, it } from 'vitest';
import { decodeAttributes } from '../../../../src/domain/io/index.ts';
import type { IoMapping } from '../../../../src/domain/io/index.ts';
import type { RawAttributes } from '../../../../src/domain/position.ts';
import { fmb920ById, mapping } from './fmb920-mappings.ts';

const raw: RawAttributes = {
  '239': 1,
  '66': 13650,
  '72': 4294967244,
  '19': 64556,
  '16': { __bigint: '18446744073709551615' },
  '78': { __buffer_b64: 'AZo/IQAAAGU=' },
  '387': { __buffer_b64: Buffer.from('+31.43000-004.23000+750.000/', 'latin1').toString('base64') },
};

describe('decodeAttributes', () => {
  it('decodes every known IO id under its attribute name', () => {
    expect(decodeAttributes(raw, fmb920ById)).toEqual({
      ignition: true,
      external_voltage: 13.65,
      dallas_temperature_1: -5.2,
      axis_z: -980,
      total_odometer: '18446744073709551615',
      ibutton: '019a3f2100000065',
      iso6709_coordinates: '+31.43000-004.23000+750.000/',
    });
  });

  it('keeps a "no reading" as null', () => {
    expect(decodeAttributes({ '72': 850 }, fmb920ById)).toEqual({ dallas_temperature_1: null });
  });

  it('keeps unknown IO ids raw under io_<id>', () => {
    expect(decodeAttributes({ '239': 0, '9999': 7, '10000': { __bigint: '5' } }, fmb920ById)).toEqual({
      ignition: false,
      io_9999: 7,
      io_10000: { __bigint: '5' },
    });
  });

  it('keeps a value that fails to decode raw, with the reason, and decodes the rest', () => {
    expect(decodeAttributes({ '239': 1, '19': 65536, '78': { __buffer_b64: 'AQI=' } }, fmb920ById)).toEqual({
      ignition: true,
      io_19: 65536,
      io_19_error: 'raw value 65536 does not fit in 2 bytes',
      io_78: { __buffer_b64: 'AQI=' },
      io_78_error: 'buffer of 2 bytes does not match byteSize 8',
    });
  });

  it('keeps values raw when their mapping row is broken', () => {
    const broken = new Map<number, IoMapping>([[5, mapping({ ioId: 5, attribute: 'five', byteSize: 0 })]]);
    expect(decodeAttributes({ '5': 3 }, broken)).toEqual({ io_5: 3, io_5_error: 'byteSize must be an integer in 1..255, got 0' });
  });

  it('keeps the ascii element 387 sent as the number 65 as text, and one with a NUL inside raw with the reason', () => {
    expect(decodeAttributes({ '387': 65 }, fmb920ById)).toEqual({ iso6709_coordinates: 'A' });
    expect(decodeAttributes({ '387': 0x410042 }, fmb920ById)).toEqual({
      io_387: 0x410042,
      io_387_error: 'ascii text has a NUL byte at position 1 between its characters, which cannot be stored as text',
    });
  });

  it('never makes a key or a text Postgres refuses: attribute names with NUL or a lone surrogate are broken rows', () => {
    const odd = new Map<number, IoMapping>([
      [1, mapping({ ioId: 1, attribute: 'a\u0000b' })],
      [2, mapping({ ioId: 2, attribute: 'x\ud800' })],
      [3, mapping({ ioId: 3, attribute: 'three', valueType: 'ascii', invalidValues: ['n\u0000a'], byteSize: 1.5 })],
      [4, mapping({ ioId: 4, attribute: ' ' })],
      [5, mapping({ ioId: 5, attribute: 'io_7' })],
    ]);
    const decoded = decodeAttributes({ '1': 1, '2': 2, '3': 3, '4': 4, '5': 5 }, odd);
    expect(decoded).toEqual({
      io_1: 1,
      io_1_error: 'attribute "a\\u0000b" has a NUL character at position 1, which Postgres cannot store as text',
      io_2: 2,
      io_2_error: 'attribute "x\\ud800" has a lone UTF-16 surrogate at position 1, which Postgres cannot store as text',
      io_3: 3,
      io_3_error: 'byteSize must be an integer in 1..255, got 1.5',
      io_4: 4,
      io_4_error: 'attribute must name the value: an empty name is no key a reader can ask for',
      io_5: 5,
      io_5_error: 'attribute "io_7" is a name the decoder gives elements without a mapping (io_<id>) and their errors: give it a name of its own',
    });
    const bad = /\u0000|[\ud800-\udfff]/;
    for (const [key, value] of Object.entries(decoded)) expect(bad.test(key) || bad.test(String(value))).toBe(false);
  });

  it('keeps an error message storable even when it quotes a NUL', () => {
    const row = new Map<number, IoMapping>([[1, mapping({ ioId: 1, attribute: 'one', invalidValues: ['1\u00002'] })]]);
    expect(decodeAttributes({ '1': 1 }, row)).toEqual({ io_1: 1, io_1_error: 'invalidValues entry "1\\u00002" has a NUL character at position 1, which Postgres cannot store as text' });
    const unit = new Map<number, IoMapping>([[1, mapping({ ioId: 1, attribute: 'one', unit: 'm\udc00' })]]);
    expect(decodeAttributes({ '1': 1 }, unit)).toEqual({ io_1: 1, io_1_error: 'unit "m\\udc00" has a lone UTF-16 surrogate at position 1, which Postgres cannot store as text' });
  });

  it('does not let a second IO id overwrite an attribute already decoded', () => {
    const twice = new Map<number, IoMapping>([
      [1, mapping({ ioId: 1, attribute: 'speed' })],
      [2, mapping({ ioId: 2, attribute: 'speed' })],
    ]);
    expect(decodeAttributes({ '1': 10, '2': 20 }, twice)).toEqual({
      speed: 10,
      io_2: 20,
      io_2_error: 'attribute "speed" is already taken by another IO element',
    });
  });

  it('stores an attribute named __proto__ as an own property', () => {
    const odd = new Map<number, IoMapping>([[1, mapping({ ioId: 1, attribute: '__proto__' })]]);
    const decoded = decodeAttributes({ '1': 10 }, odd);
    expect(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value).toBe(10);
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
  });

  it('returns an empty record for no elements', () => {
    expect(decodeAttributes({}, fmb920ById)).toEqual({});
  });

  it('does not mutate its inputs', () => {
    const input = structuredClone(raw);
    input['19'] = 65536;
    const before = structuredClone(input);
    const mappings = new Map(fmb920ById);
    const rowsBefore = structuredClone([...mappings.values()]);
    const decoded = decodeAttributes(input, mappings);
    expect(input).toEqual(before);
    expect([...mappings.values()]).toEqual(rowsBefore);
    expect(mappings.size).toBe(fmb920ById.size);
    // Raw values kept in the output are the input's; the output itself is a new object.
    expect(decoded).not.toBe(input);
  });
});
