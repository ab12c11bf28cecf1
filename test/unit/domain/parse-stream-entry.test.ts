import { describe, expect, it } from 'vitest';
import { payload } from './stream-entry-fixture.ts';
import { parseStreamEntry } from '../../../src/domain/parse-stream-entry.ts';

const entry = (overrides: Record<string, unknown> = {}, payloadOverrides: Record<string, unknown> = {}) => ({
  ts: payload.timestamp,
  device_id: payload.device_id,
  codec: '8E',
  payload: JSON.stringify({ ...payload, ...payloadOverrides }),
  ...overrides,
}) as Record<string, string>;

describe('parseStreamEntry', () => {
  it('turns a well-formed entry into a Position with epoch-millisecond time', () => {
    const result = parseStreamEntry(entry());
    expect(result).toEqual({
      ok: true,
      position: {
        deviceId: '350936080010018',
        ts: Date.UTC(2026, 2, 1, 8, 0, 1, 250),
        latitude: 31.43,
        longitude: -4.23,
        altitude: 760.5,
        angle: 96,
        speed: 87,
        satellites: 11,
        priority: 0,
        attributes: payload.attributes,
        codec: '8E',
      },
    });
  });

  it('ignores payload fields the ingestion service adds (the contract lets it add fields)', () => {
    const plain = parseStreamEntry(entry());
    const added = parseStreamEntry(entry({}, { hdop: 0.9, event_io: 239, odometer: { km: 12 } }));
    expect(added).toEqual(plain);
    // Through the schemas too: an entry the fast path leaves to them, with an added field.
    expect(parseStreamEntry(entry({ ts: '2026-03-01T09:00:01.250+01:00' }, { hdop: 0.9 }))).toEqual(plain);
  });

  it('keeps 64-bit values as decimal strings, never as lossy numbers', () => {
    const result = parseStreamEntry(entry());
    expect(result.ok && result.position.attributes['16']).toEqual({ __bigint: '18446744073709551615' });
  });

  it('keeps a plain integer past 2^53 by the digits sent, in the 64-bit form, where JSON.parse would round it', () => {
    const text = JSON.stringify({ ...payload, attributes: { '1': 1, '11': 0 } }).replace('"11":0', '"11":8937204016201690001');
    expect(JSON.parse(text).attributes['11']).toBe(8937204016201690000); // what JSON.parse alone keeps
    const result = parseStreamEntry(entry({ payload: text }));
    expect(result.ok && result.position.attributes).toEqual({ '1': 1, '11': { __bigint: '8937204016201690001' } });
    // Also through the schemas (a time with an offset leaves the entry to them), and for a negative one.
    const negative = text.replace('8937204016201690001', '-9007199254740993');
    const slow = parseStreamEntry(entry({ payload: negative, ts: '2026-03-01T09:00:01.250+01:00' }));
    expect(slow.ok && slow.position.attributes['11']).toEqual({ __bigint: '-9007199254740993' });
    // Integers a double holds stay as parsed; the 64-bit edges take the 64-bit form.
    const kept = { '1': 9007199254740991, '2': -9007199254740991, '3': 0.5 };
    const plain = parseStreamEntry(entry({}, { attributes: kept }));
    expect(plain.ok && plain.position.attributes).toEqual(kept);
    const edges = text.replace('8937204016201690001', '18446744073709551615').replace('"1":1', '"1":-9223372036854775808');
    expect(parseStreamEntry(entry({ payload: edges })).ok && (parseStreamEntry(entry({ payload: edges })) as { position: { attributes: unknown } }).position.attributes).toEqual({
      '1': { __bigint: '-9223372036854775808' },
      '11': { __bigint: '18446744073709551615' },
    });
  });

  it('refuses a plain number whose digits are lost, rather than storing another value than was sent', () => {
    // 21 digits, or past 2^64: no 64-bit form keeps them, and a double keeps only the first 17.
    for (const digits of ['123456789012345678901234567890', '18446744073709551616']) {
      const text = JSON.stringify({ ...payload, attributes: { '1': 1, '11': 0 } }).replace('"11":0', `"11":${digits}`);
      const result = parseStreamEntry(entry({ payload: text }));
      expect(result.ok).toBe(false);
      expect(!result.ok && result.reason).toBe(`payload.attributes.11: ${digits} is past 2^53 and no 64-bit integer, so its digits cannot be kept (a 64-bit value goes as {"__bigint": "<digits>"})`);
    }
  });

  it('accepts times with an offset and every codec of the contract', () => {
    for (const codec of ['8', '8E', '16']) {
      const result = parseStreamEntry(entry({ codec, ts: '2026-03-01T09:00:01.250+01:00' }, { timestamp: '2026-03-01T09:00:01.250+01:00' }));
      expect(result.ok && result.position.ts).toBe(Date.UTC(2026, 2, 1, 8, 0, 1, 250));
    }
  });

  it.each([
    ['a missing field', { payload: undefined }, {}, 'payload: '],
    ['an unknown codec', { codec: '12' }, {}, 'codec: '],
    ['a time without a zone', { ts: '2026-03-01T08:00:01' }, {}, 'ts: expected an ISO-8601 time with a zone'],
    ['payload that is not JSON', { payload: '{"device_id":' }, {}, 'payload: not JSON'],
    ['latitude out of range', {}, { latitude: 91 }, 'payload.latitude: '],
    ['longitude out of range', {}, { longitude: -180.5 }, 'payload.longitude: '],
    ['a string speed', {}, { speed: '87' }, 'payload.speed: '],
    ['a negative speed', {}, { speed: -1 }, 'payload.speed: '],
    ['fractional satellites', {}, { satellites: 7.5 }, 'payload.satellites: '],
    ['an unknown priority', {}, { priority: 3 }, 'payload.priority: expected 0, 1 or 2 (low, high, panic)'],
    ['a priority that is not a whole number', {}, { priority: 2.5 }, 'payload.priority: expected 0, 1 or 2 (low, high, panic)'],
    ['an impossible date', {}, { timestamp: '2026-02-30T25:00:00.000Z' }, 'payload.timestamp: '],
    ['a non-numeric IO id', {}, { attributes: { speed: 1 } }, 'payload.attributes.speed: IO ids are decimal strings of 1 to 5 digits'],
    ['an IO id of more digits than any', {}, { attributes: { '99999999999999999999': 1 } }, 'payload.attributes.99999999999999999999: IO ids are decimal strings of 1 to 5 digits'],
    ['a bigint that is not an integer', {}, { attributes: { '16': { __bigint: '1e5' } } }, 'payload.attributes.16.__bigint: expected the decimal digits of a 64-bit integer (from -9223372036854775808 to 18446744073709551615)'],
    ['a bigint wider than 64 bits', {}, { attributes: { '16': { __bigint: '123456789012345678901' } } }, 'payload.attributes.16.__bigint: expected the decimal digits of a 64-bit integer (from -9223372036854775808 to 18446744073709551615)'],
    ['a bigint of 20 digits past 2^64', {}, { attributes: { '16': { __bigint: '18446744073709551616' } } }, 'payload.attributes.16.__bigint: expected the decimal digits of a 64-bit integer (from -9223372036854775808 to 18446744073709551615)'],
    ['a bigint below -2^63', {}, { attributes: { '16': { __bigint: '-9223372036854775809' } } }, 'payload.attributes.16.__bigint: expected the decimal digits of a 64-bit integer (from -9223372036854775808 to 18446744073709551615)'],
    ['a plain number whose digits a double cannot keep', {}, { attributes: { '11': 1e300 } }, 'payload.attributes.11: 1e+300 is past 2^53 and no 64-bit integer, so its digits cannot be kept (a 64-bit value goes as {"__bigint": "<digits>"})'],
    ['an IO value that is an object of no known kind', {}, { attributes: { '1': { a: 1 } } }, 'payload.attributes.1: expected a number, {"__bigint": "<digits>"} or {"__buffer_b64": "<base64>"}'],
    ['an IO value that is an array', {}, { attributes: { '1': [1, 2] } }, 'payload.attributes.1: expected a number, {"__bigint": "<digits>"} or {"__buffer_b64": "<base64>"}'],
    ['a buffer that is not base64', {}, { attributes: { '78': { __buffer_b64: '***' } } }, 'payload.attributes.78.__buffer_b64: '],
    ['a missing payload field', {}, { satellites: undefined }, 'payload.satellites: '],
  ])('rejects %s with a reason naming the field', (_name, overrides, payloadOverrides, reason) => {
    const fields = entry(overrides, payloadOverrides);
    for (const [key, value] of Object.entries(overrides)) if (value === undefined) delete fields[key];
    const result = parseStreamEntry(fields);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toContain(reason);
  });

  it('refuses an IO id "__proto__", which the schema\'s record passed over and the fix was stored without', () => {
    const text = JSON.stringify({ ...payload, attributes: { '66': 12345 } }).replace('"66":', '"__proto__":{"1":1},"66":');
    const result = parseStreamEntry(entry({ payload: text }));
    expect(result).toEqual({ ok: false, reason: expect.stringContaining('payload.attributes: IO ids are decimal strings of 1 to 5 digits, not "__proto__"') });
  });

  // What the positions table would refuse is refused here, with the field named, so it never fails a batch.
  it.each([
    ['an altitude beyond float4', { altitude: 1e39 }, 'payload.altitude: expected metres within -32768..65535'],
    ['an altitude no tracker reports', { altitude: 100_000 }, 'payload.altitude: expected metres within -32768..65535'],
    ['an altitude that underflows a real', { altitude: 1e-40 }, 'payload.altitude: too close to zero for a real column (nonzero below 1.2e-38)'],
    ['a speed that underflows a real', { speed: 5e-324 }, 'payload.speed: too close to zero for a real column'],
    ['an angle that underflows a real', { angle: 1e-39 }, 'payload.angle: too close to zero for a real column'],
    ['year 0000, which Postgres refuses', { timestamp: '0000-01-01T00:00:00.000Z' }, 'payload.timestamp: outside the times a fix can have (2000-01-01 to before 2100-01-01, UTC)'],
    ['1970, a tracker without GPS time', { timestamp: '1970-01-01T00:00:00.000Z' }, 'payload.timestamp: outside the times a fix can have'],
    ['a moment before 2000 by its offset', { timestamp: '2000-01-01T00:30:00+01:00' }, 'payload.timestamp: outside the times a fix can have'],
    ['year 2100', { timestamp: '2100-01-01T00:00:00.000Z' }, 'payload.timestamp: outside the times a fix can have'],
  ])('rejects %s', (_name, payloadOverrides, reason) => {
    const result = parseStreamEntry(entry({}, payloadOverrides));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toContain(reason);
  });

  it('accepts the edges of what positions can hold', () => {
    for (const overrides of [
      { altitude: -32768, speed: 0, angle: 0 },
      { altitude: 65535, speed: 2000, angle: 360 },
      { altitude: 1.2e-38, speed: 1e-3 },
      { timestamp: '2000-01-01T00:00:00.000Z' },
      { timestamp: '2099-12-31T23:59:59.999Z' },
    ]) {
      expect(parseStreamEntry(entry({}, overrides)).ok).toBe(true);
    }
  });

  // Date.parse alone rolls a day the month lacks into the next month: a tracker's bad clock must not move a fix.
  it.each([
    ['February 30th', '2026-02-30T10:00:00.000Z'],
    ['February 29th of a common year', '2026-02-29T10:00:00Z'],
    ['April 31st', '2026-04-31T23:00:00+02:00'],
    ['hour 24', '2026-03-14T24:00:00Z'],
  ])('dead-letters a time the calendar lacks: %s', (_what, timestamp) => {
    expect(parseStreamEntry(entry({}, { timestamp }))).toEqual({ ok: false, reason: 'payload.timestamp: not a real calendar time' });
  });

  it('takes February 29th of a leap year', () => {
    const result = parseStreamEntry(entry({}, { timestamp: '2028-02-29T12:00:00Z' }));
    expect(result.ok && result.position.ts).toBe(Date.UTC(2028, 1, 29, 12));
  });

  it('does not report an impossible date twice', () => {
    const result = parseStreamEntry(entry({}, { timestamp: '2026-02-30T25:00:00.000Z' }));
    expect(result).toEqual({ ok: false, reason: 'payload.timestamp: not a real calendar time' });
  });

  it('rejects an entry whose device_id field disagrees with its payload', () => {
    const result = parseStreamEntry(entry({ device_id: '350936080010026' }));
    expect(result).toEqual({ ok: false, reason: 'device_id: field "350936080010026" differs from payload.device_id "350936080010018"' });
  });

  it('refuses a byte array larger than a Codec 8 Extended element, and a payload no fix comes near, with the reason', () => {
    const bytes = (n: number) => ({ '78': { __buffer_b64: Buffer.alloc(n, 7).toString('base64') } });
    expect(parseStreamEntry(entry({}, { attributes: bytes(65_535) })).ok).toBe(true);
    // Five megabytes: the pattern of z.base64() ran V8 out of stack on this, and the processor retried its batch forever.
    expect(parseStreamEntry(entry({}, { attributes: bytes(65_536) }))).toEqual({ ok: false, reason: 'payload.attributes.78.__buffer_b64: expected base64 of at most 65,535 bytes' });
    // Short but no base64: said so, not blamed on its size.
    for (const text of ['!!!', 'QUJD=', 'QU JD']) {
      expect(parseStreamEntry(entry({}, { attributes: { '78': { __buffer_b64: text } } }))).toEqual({ ok: false, reason: 'payload.attributes.78.__buffer_b64: expected base64: A-Z, a-z, 0-9, + and / in groups of four, padded with =' });
    }
    const tooLarge = { ok: false, reason: "payload: larger than 1,048,576 characters, which no tracker's fix is" };
    expect(parseStreamEntry(entry({}, { attributes: bytes(5_000_000) }))).toEqual(tooLarge);
    const manyElements = entry({}, { attributes: Object.fromEntries(Array.from({ length: 90_000 }, (_, i) => [String(i), 1_000_000 + i])) });
    expect(manyElements.payload!.length).toBeGreaterThan(1_048_576);
    expect(parseStreamEntry(manyElements)).toEqual(tooLarge);
  });

  it('refuses an entry whose reading throws, with the error, instead of throwing', () => {
    const fields = entry();
    Object.defineProperty(fields, 'payload', { enumerable: true, get: () => { throw new Error('a field that cannot be read'); } });
    expect(parseStreamEntry(fields)).toEqual({ ok: false, reason: 'unreadable entry: a field that cannot be read' });
  });

  it('does not mutate its input', () => {
    const fields = entry();
    const copy = structuredClone(fields);
    parseStreamEntry(fields);
    expect(fields).toEqual(copy);
  });
});
