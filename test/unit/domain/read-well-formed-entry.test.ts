import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { payload } from './stream-entry-fixture.ts';
import { parseStreamEntry } from '../../../src/domain/parse-stream-entry.ts';
import { isBigintText, readWellFormedEntry } from '../../../src/domain/read-well-formed-entry.ts';
import { isBase64 } from '../../../src/domain/io/read-raw-io.ts';

const fields = (overrides: Record<string, unknown> = {}, payloadOverrides: Record<string, unknown> = {}, payloadText?: string) => {
  const entry: Record<string, unknown> = {
    ts: payload.timestamp,
    device_id: payload.device_id,
    codec: '8E',
    payload: payloadText ?? JSON.stringify({ ...payload, ...payloadOverrides }),
    ...overrides,
  };
  for (const [key, value] of Object.entries(overrides)) if (value === undefined) delete entry[key];
  return entry as Record<string, string>;
};

// The fast path may only accept what the zod schemas accept, and must build the same Position.
const variants: [string, Record<string, string>][] = [
  ['well formed', fields()],
  ['an extra envelope field', fields({ extra: 'x' })],
  ['an offset time', fields({ ts: '2026-03-01T09:00:01+0100' }, { timestamp: '2026-03-01T09:00:01.250+01:00' })],
  ['priority 2, no attributes', fields({}, { priority: 2, attributes: {} })],
  ['a missing field', fields({ payload: undefined })],
  ['an unknown codec', fields({ codec: '12' })],
  ['a time without a zone', fields({ ts: '2026-03-01T08:00:01' })],
  ['an impossible envelope time', fields({ ts: '2026-02-30T25:00:00Z' })],
  ['a bad device id', fields({ device_id: 'a b' })],
  ['payload that is not JSON', fields({ payload: '{"device_id":' })],
  ['payload that is an array', fields({}, {}, '[1]')],
  ['payload that is null', fields({}, {}, 'null')],
  ['an infinite altitude', fields({}, {}, JSON.stringify(payload).replace('760.5', '1e999'))],
  ['latitude out of range', fields({}, { latitude: 91 })],
  ['a string speed', fields({}, { speed: '87' })],
  ['fractional satellites', fields({}, { satellites: 7.5 })],
  ['an unknown priority', fields({}, { priority: 3 })],
  ['an impossible date', fields({}, { timestamp: '2026-02-30T25:00:00.000Z' })],
  ['February 30th', fields({}, { timestamp: '2026-02-30T10:00:00.000Z' })],
  ['April 31st', fields({}, { timestamp: '2026-04-31T10:00:00Z' })],
  ['February 29th of a leap year', fields({}, { timestamp: '2028-02-29T10:00:00Z' })],
  ['hour 24', fields({}, { timestamp: '2026-03-14T24:00:00Z' })],
  ['minute 60', fields({}, { timestamp: '2026-03-14T10:60:00Z' })],
  ['a non-numeric IO id', fields({}, { attributes: { speed: 1 } })],
  ['a six-digit IO id', fields({}, { attributes: { '123456': 1 } })],
  ['attributes that are an array', fields({}, { attributes: [1] })],
  ['a bigint that is not an integer', fields({}, { attributes: { '16': { __bigint: '1e5' } } })],
  ['a bigint with an extra key', fields({}, { attributes: { '16': { __bigint: '1', x: 1 } } })],
  ['a buffer that is not base64', fields({}, { attributes: { '78': { __buffer_b64: '***' } } })],
  ['an empty buffer', fields({}, { attributes: { '78': { __buffer_b64: '' } } })],
  ['a string IO value', fields({}, { attributes: { '78': 'x' } })],
  ['an added payload field', fields({}, { odometer: 5 })],
  ['an added payload field that is not a Position field\'s type', fields({}, { hdop: 'n/a', extra: [1, { a: null }] })],
  ['a missing payload field', fields({}, { satellites: undefined })],
  ['a device mismatch', fields({ device_id: '350936080010026' })],
  ['an altitude beyond float4', fields({}, { altitude: 1e39 })],
  ['an altitude that underflows a real', fields({}, { altitude: 1e-40 })],
  ['a speed that underflows a real', fields({}, { speed: 5e-324 })],
  ['the lowest altitude', fields({}, { altitude: -32768 })],
  ['year 0000', fields({}, { timestamp: '0000-01-01T00:00:00.000Z' })],
  ['1970', fields({}, { timestamp: '1970-01-01T00:00:00Z' })],
  ['the first moment of 2000', fields({}, { timestamp: '2000-01-01T00:00:00Z' })],
  ['year 2100', fields({}, { timestamp: '2100-01-01T00:00:00Z' })],
  ['a byte array of 65,535 bytes', fields({}, { attributes: { '78': { __buffer_b64: Buffer.alloc(65_535, 1).toString('base64') } } })],
  ['a byte array of 65,536 bytes', fields({}, { attributes: { '78': { __buffer_b64: Buffer.alloc(65_536, 1).toString('base64') } } })],
  ['a byte array of 5 MB', fields({}, { attributes: { '78': { __buffer_b64: Buffer.alloc(5_000_000, 1).toString('base64') } } })],
  ['a buffer padded in the middle', fields({}, { attributes: { '78': { __buffer_b64: 'AA==AAAA' } } })],
  ['a buffer with three pads', fields({}, { attributes: { '78': { __buffer_b64: 'A===' } } })],
  ['a buffer with one pad', fields({}, { attributes: { '78': { __buffer_b64: 'AAA=' } } })],
  ['a payload over 1 MiB', fields({}, { attributes: Object.fromEntries(Array.from({ length: 90_000 }, (_, i) => [String(i), 1_000_000 + i])) })],
  ['a __proto__ payload key', fields({}, {}, JSON.stringify(payload).replace('"device_id"', '"__proto__":1,"device_id"'))],
];

describe('readWellFormedEntry', () => {
  it.each(variants)('agrees with the schemas on %s', (_name, entry) => {
    const fast = readWellFormedEntry(entry);
    const checked = parseStreamEntry(entry);
    if (fast !== null) expect({ ok: true, position: fast }).toEqual(checked);
    // Accepted entries take the fast path (it covers the usual shapes); rejected ones never do.
    expect(fast !== null).toBe(checked.ok);
  });

  it('agrees with the schemas on any numbers and times in the payload', () => {
    const number = fc.oneof(
      fc.double(),
      fc.double({ min: -10, max: 400 }),
      fc.integer({ min: -70_000, max: 70_000 }),
      fc.constantFrom(0, -0, 1e-45, 1.1754943508222875e-38, 1.1754942e-38, 65535, 65535.5, -32768.1, 360.0001, 2000),
    );
    const time = fc.date({ min: new Date(Date.UTC(1990, 0, 1)), max: new Date(Date.UTC(2110, 0, 1)), noInvalidDate: true }).map((d) => d.toISOString());
    fc.assert(
      fc.property(number, number, number, time, (altitude, angle, speed, timestamp) => {
        const entry = fields({}, { altitude, angle, speed, timestamp });
        const fast = readWellFormedEntry(entry);
        const checked = parseStreamEntry(entry);
        expect(fast !== null).toBe(checked.ok);
        if (fast !== null) expect({ ok: true, position: fast }).toEqual(checked);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads base64 as the pattern of z.base64() does, without its stack', () => {
    // The pattern stands as the reference here, on texts short enough for it.
    const pattern = /^$|^(?:[0-9a-zA-Z+/]{4})*(?:(?:[0-9a-zA-Z+/]{2}==)|(?:[0-9a-zA-Z+/]{3}=))?$/;
    const text = fc.array(fc.constantFrom('A', 'z', '0', '+', '/', '=', '-', '_', ' '), { maxLength: 13 }).map((chars) => chars.join(''));
    fc.assert(fc.property(text, (t) => isBase64(t) === pattern.test(t)), { numRuns: 5000 });
    expect(isBase64('A'.repeat(8_000_000))).toBe(true);
    expect(() => pattern.test('A'.repeat(8_000_000))).toThrow(RangeError);
  });

  it('takes the well-formed shape without the schemas', () => {
    expect(readWellFormedEntry(fields())).not.toBeNull();
  });
});

describe('isBigintText', () => {
  const fits = (text: string) => {
    const n = BigInt(text);
    return n >= -(2n ** 63n) && n <= 2n ** 64n - 1n;
  };

  it('takes what a 64-bit IO element holds, signed or unsigned, and nothing past it', () => {
    for (const text of ['0', '-0', '18446744073709551615', '-9223372036854775808', '00000000000000000001', '8921201000000000101']) expect(isBigintText(text), text).toBe(true);
    for (const text of ['18446744073709551616', '-9223372036854775809', '99999999999999999999', '123456789012345678901', '', '-', '1e5', ' 1']) expect(isBigintText(text), text).toBe(false);
  });

  it('agrees with BigInt on any text of up to 20 digits', () => {
    const digits = fc.stringMatching(/^-?\d{1,20}$/);
    fc.assert(fc.property(digits, (text) => isBigintText(text) === fits(text)));
    fc.assert(fc.property(fc.bigInt({ min: -(2n ** 66n), max: 2n ** 66n }), (n) => String(n).replace('-', '').length > 20 || isBigintText(String(n)) === fits(String(n))));
  });
});
