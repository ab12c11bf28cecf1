import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeAttributes, ioValueDecoder, type IoMapping, type PreparedIoMapping } from '../../../../src/domain/io/index.ts';
import { attributesJson } from '../../../../src/domain/io/attributes-json.ts';
import type { RawAttributes, RawIoValue } from '../../../../src/domain/position.ts';
import { fmb920Attributes } from '../../../../src/simulator/raw-io.ts';
import { seededRandom } from '../../../../src/simulator/random.ts';
import { b64, fmb920Mappings, mapping } from './fmb920-mappings.ts';

/** What the processor stores: decodeAttributes with rows prepared by IO id, later rows winning. */
function reference(mappings: readonly IoMapping[]): (raw: RawAttributes) => string {
  const prepared = new Map<number, PreparedIoMapping>(mappings.map((m) => [m.ioId, { attribute: m.attribute, decode: ioValueDecoder(m) }]));
  return (raw) => JSON.stringify(decodeAttributes(raw, prepared));
}

/** The raw attributes as Postgres prints a jsonb: keys by length then bytes, ", " and ": " between. */
function jsonbText(value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return JSON.stringify(value);
  const keys = Object.keys(value).sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
  return `{${keys.map((k) => `${JSON.stringify(k)}: ${jsonbText((value as Record<string, unknown>)[k])}`).join(', ')}}`;
}

function simulatedFixes(count: number, seed = 1): RawAttributes[] {
  const random = seededRandom(seed);
  const state = { odometerM: 48_123_456n, tripM: 0, temperatureTenths: -52, iccid: 8_921_201_000_000_000_007n, ibutton: Buffer.from([1, 0x9a, 0x3f, 0x21, 0, 0, 0, 7]) };
  return Array.from({ length: count }, (_, i) => {
    state.tripM += 17;
    state.odometerM += 17n;
    state.temperatureTenths += i % 3 === 0 ? 1 : -1;
    return fmb920Attributes(state, { speedKmh: (i * 7) % 130, moving: i % 5 !== 0, latitude: 45.1 + i * 1e-5, longitude: 6.2 - i * 1e-5, altitude: 1200 + (i % 40), random });
  });
}

describe('attributesJson', () => {
  it('gives the text of JSON.stringify(decodeAttributes(...)) for simulated FMB920 fixes, memo and all', () => {
    const fixes = simulatedFixes(12_000); // enough for the odometers to fill and drop their memo
    const fast = attributesJson(fmb920Mappings);
    const slow = reference(fmb920Mappings);
    for (const raw of fixes) {
      const expected = slow(raw);
      expect(fast.fromRaw(raw)).toBe(expected);
      expect(fast.fromText(jsonbText(raw))).toBe(expected);
      expect(fast.fromText(JSON.stringify(raw))).toBe(expected);
    }
  });

  it('decodes a corrected row with the correction: only the attribute it names changes', () => {
    const [raw] = simulatedFixes(1);
    const corrected = fmb920Mappings.map((m) => (m.ioId === 72 ? { ...m, multiplier: 0.01 } : m));
    const before = JSON.parse(attributesJson(fmb920Mappings).fromRaw(raw!));
    const after = JSON.parse(attributesJson(corrected).fromText(jsonbText(raw!)));
    expect(after.dallas_temperature_1).toBeCloseTo(before.dallas_temperature_1 / 10, 10);
    expect({ ...after, dallas_temperature_1: 0 }).toEqual({ ...before, dallas_temperature_1: 0 });
  });

  it('hands unusual fixes to decodeAttributes: errors, taken names, unknown ids named like attributes', () => {
    const rows = [
      mapping({ ioId: 1, attribute: 'speed' }),
      mapping({ ioId: 2, attribute: 'speed' }),
      mapping({ ioId: 3, attribute: 'io_4' }),
      mapping({ ioId: 5, attribute: 'broken', byteSize: 0 }),
      mapping({ ioId: 6, attribute: '__proto__', valueType: 'boolean', byteSize: 1 }),
      mapping({ ioId: 7, attribute: 'hex', valueType: 'hex', byteSize: 2 }),
    ];
    const fast = attributesJson(rows);
    const slow = reference(rows);
    const cases: RawAttributes[] = [
      { '1': 10, '2': 20 },
      { '3': 1, '4': 2 },
      { '4': 2, '3': 1 },
      { '5': 3, '1': 4 },
      { '6': 1, '7': b64([1, 2]) },
      { '7': b64([1, 2, 3]) },
      { '07': 1, '7': b64([1, 2]) },
      { '01': 5, '1': 6 },
      { abc: 1, '1': { __bigint: '12' }, '9': { __buffer_b64: 'AQ==' } },
      { '1': -0, '2': 1.5 },
      { '1': { __bigint: '5', extra: 1 } as unknown as RawIoValue },
      JSON.parse('{"__proto__": 5, "1": 3}') as RawAttributes,
      JSON.parse('{"1": null, "9999": null}') as RawAttributes,
      JSON.parse('{"9999": null, "8888": "text"}') as RawAttributes,
      {},
    ];
    // Twice: the second pass answers from the memo.
    for (const raw of [...cases, ...cases]) {
      expect(fast.fromRaw(raw)).toBe(slow(raw));
      expect(fast.fromText(jsonbText(raw))).toBe(slow(raw));
    }
  });

  it('reads any JSON text as JSON.parse does, whatever its shape or spacing', () => {
    const fast = attributesJson(fmb920Mappings);
    const slow = reference(fmb920Mappings);
    const texts = [
      '{}',
      ' { } ',
      '{"239":1,"66":13650}',
      '{\n  "239" : 1 ,\n  "66" : 13650\n}',
      '{"66": 13650, "239": 1}', // keys out of order
      '{"239": 1, "239": 0}', // a repeated key: the last one counts
      '{"072": 850, "72": 3000}', // leading zero
      '{"16": {"__bigint": "18446744073709551615"}, "78": {"__buffer_b64": "AZo/IQAAAGU="}}',
      '{"78": {"__buffer_b64": "}"}}', // a brace inside a string
      '{"78": {"__buffer_b64": "AZo/IQAAAGU=", "x": {"y": 1}}}', // nested
      '{"1": "1", "9": [1], "21": true, "24": null}',
      '{"abc": 1, "1": 2}',
      '{"4294967295": 1, "1": 2}', // past the array indices
      '{"24": 1e2, "9": -0, "21": 2.50}',
      '{"1": 1}   ',
    ];
    for (const text of [...texts, ...texts]) expect(fast.fromText(text), text).toBe(slow(JSON.parse(text)));
    for (const bad of ['', '{', '{"1": 01}', '{"1": -}', '{"1": 1,}', '{"1": 1} x', '[1]x', '{"1": 1e}']) {
      expect(() => JSON.parse(bad)).toThrow(SyntaxError);
      expect(() => fast.fromText(bad), bad).toThrow(SyntaxError);
    }
  });

  it('agrees with decodeAttributes on arbitrary raw values of the FMB920 ids', () => {
    const ids = fmb920Mappings.map((m) => String(m.ioId));
    const rawValue = fc.oneof(
      fc.integer({ min: 0, max: 2 ** 32 }),
      fc.constantFrom(0, 1, 850, 3000, 65535, -1, 2.5, 2 ** 53),
      fc.bigInt({ min: 0n, max: (1n << 70n) }).map((n) => ({ __bigint: n.toString() })),
      fc.uint8Array({ minLength: 0, maxLength: 40 }).map((bytes) => ({ __buffer_b64: Buffer.from(bytes).toString('base64') })),
    );
    const raw = fc.dictionary(fc.oneof(fc.constantFrom(...ids), fc.constantFrom('9999', 'x')), rawValue as fc.Arbitrary<RawIoValue>);
    const fast = attributesJson(fmb920Mappings);
    const slow = reference(fmb920Mappings);
    fc.assert(fc.property(fc.array(raw, { maxLength: 20 }), (fixes) => fixes.every((r) => fast.fromRaw(r) === slow(r) && fast.fromText(jsonbText(r)) === slow(r))));
  });

  it('decodes the exact attributes, asked for only when a plain number past 2^53 is met', () => {
    const fast = attributesJson(fmb920Mappings);
    const exact = { '239': 1, '78': { __bigint: '12345678901234567890' }, '9999': { __bigint: '9007199254740993' } } as RawAttributes;
    let asked = 0;
    const ask = () => {
      asked += 1;
      return exact;
    };
    // As JSON.parse leaves them: the iButton id and an unmapped id rounded.
    const rounded: RawAttributes = { '239': 1, '78': 12345678901234567890, '9999': 9007199254740993 };
    expect(fast.fromRaw(rounded, ask)).toBe(reference(fmb920Mappings)(exact));
    expect(JSON.parse(fast.fromRaw(rounded, ask))).toMatchObject({ ibutton: 'ab54a98ceb1f0ad2', io_9999: { __bigint: '9007199254740993' } });
    expect(asked).toBe(2);
    expect(fast.fromRaw({ '239': 1, '66': 9007199254740991 }, ask)).toBe(reference(fmb920Mappings)({ '239': 1, '66': 9007199254740991 }));
    expect(asked).toBe(2);
  });

  it('does not mutate the raw attributes or the mapping rows', () => {
    const [raw] = simulatedFixes(1);
    const rows = structuredClone(fmb920Mappings);
    const copy = structuredClone(raw!);
    attributesJson(rows).fromRaw(raw!);
    expect(raw).toEqual(copy);
    expect(rows).toEqual(fmb920Mappings);
  });
});
