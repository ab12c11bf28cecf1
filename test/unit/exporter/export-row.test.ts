import { describe, expect, it, vi } from 'vitest';
import type { Position } from '../../../src/domain/position.ts';
import { readExportEntry, type DecodeAttributes, type ExportEntry, type ExportRead } from '../../../src/exporter/export-row.ts';
import { toStreamEntries } from '../../../src/stream/stream-entry.ts';
import { fieldsOf as streamFieldsOf, fix } from './fixtures.ts';

const ID = '1773482400123-0';

const fieldsOf = (position: Position): Record<string, string> => streamFieldsOf(ID, position);

/** The entry's fields with its payload JSON changed: `edit` gets the parsed payload and returns the new one. */
function withPayload(edit: (payload: Record<string, unknown>) => unknown, position: Position = fix): Record<string, string> {
  const fields = fieldsOf(position);
  return { ...fields, payload: JSON.stringify(edit(JSON.parse(fields.payload!) as Record<string, unknown>)) };
}

const noDecoding: DecodeAttributes = () => null;

function accepted(read: ExportRead): ExportEntry {
  if (!read.ok) throw new Error(`refused: ${read.reason}`);
  return read.entry;
}

function refusal(read: ExportRead): string {
  if (read.ok) throw new Error(`accepted: ${JSON.stringify(read.entry)}`);
  return read.reason;
}

describe('readExportEntry accepts a simulator entry', () => {
  it('and keeps what the files need: ids, time, codec, and the payload as received', () => {
    const fields = fieldsOf(fix);
    expect(accepted(readExportEntry(ID, fields, noDecoding))).toEqual({
      streamId: ID,
      deviceId: '356307042441013',
      ts: Date.parse('2026-03-14T10:00:00.123Z'),
      codec: '8E',
      payload: fields.payload,
      decoded: null,
      mappingVersion: null,
    });
  });

  it('decodes a plain integer past 2^53 by the digits sent, as the processor does', () => {
    const decode = vi.fn<DecodeAttributes>(() => null);
    const fields = withPayload((p) => ({ ...p, attributes: { '1': 1, '11': 0 } }));
    const payload = fields.payload!.replace('"11":0', '"11":8937204016201690001');
    const row = accepted(readExportEntry(ID, { ...fields, payload }, decode));
    // The decoder gets the parsed attributes and, to ask for when it meets the rounded number, their exact form.
    const [device, raw, exact] = decode.mock.calls[0]!;
    expect([device, raw]).toEqual(['356307042441013', { '1': 1, '11': 8937204016201690000 }]);
    expect(exact!()).toEqual({ '1': 1, '11': { __bigint: '8937204016201690001' } });
    expect(row.payload).toBe(payload); // the files keep the payload as sent
  });

  it("puts the decode callback's result in decoded and mappingVersion, passing it the device and its raw IO", () => {
    const decode = vi.fn<DecodeAttributes>(() => ({ json: '{"ignition":true,"odometer_km":48123.456}', mappingVersion: 'r202603140959-0123456789abcdef' }));
    const row = accepted(readExportEntry(ID, fieldsOf(fix), decode));
    expect(row.decoded).toBe('{"ignition":true,"odometer_km":48123.456}');
    expect(row.mappingVersion).toBe('r202603140959-0123456789abcdef');
    expect(decode).toHaveBeenCalledTimes(1);
    expect(decode).toHaveBeenCalledWith('356307042441013', fix.attributes, expect.any(Function));
  });

  it('leaves decoded and mappingVersion null when the callback has no decoding for the device', () => {
    const row = accepted(readExportEntry(ID, fieldsOf(fix), () => null));
    expect(row).toMatchObject({ decoded: null, mappingVersion: null });
  });

  it('does not call the decode callback for an entry it refuses', () => {
    const decode = vi.fn<DecodeAttributes>(() => null);
    refusal(readExportEntry(ID, withPayload((p) => ({ ...p, latitude: 'north' })), decode));
    expect(decode).not.toHaveBeenCalled();
  });

  it('ignores payload keys it does not know', () => {
    expect(accepted(readExportEntry(ID, withPayload((p) => ({ ...p, hdop: 0.9, event_io: 239 })), noDecoding)).deviceId).toBe(fix.deviceId);
  });

  it('takes a time with a zone offset as the UTC instant it names', () => {
    const row = accepted(readExportEntry(ID, withPayload((p) => ({ ...p, timestamp: '2026-03-15T00:30:00.5+01:00' })), noDecoding));
    expect(row.ts).toBe(Date.UTC(2026, 2, 14, 23, 30, 0, 500));
  });
});

describe('readExportEntry accepts odd but real values', () => {
  it.each<[string, Partial<Position>]>([
    ['a fix at 0,0 (no GPS fix yet)', { latitude: 0, longitude: 0, satellites: 0, speed: 0 }],
    ['a speed of 400', { speed: 400 }],
    ['a year 1980 time (a tracker that lost its clock)', { ts: Date.UTC(1980, 0, 6) }],
    ['the first millisecond of 1970', { ts: 0 }],
    ['the last millisecond of 9999', { ts: Date.UTC(10_000, 0, 1) - 1 }],
    ['a time in 2150', { ts: Date.UTC(2150, 5, 1) }],
    ['an altitude below sea level', { altitude: -430.5 }],
    ['an altitude beyond what a tracker reports', { altitude: 1e6 }],
    ['a heading of 360', { angle: 360 }],
    ['a negative speed', { speed: -1 }],
    ['the extreme coordinates', { latitude: -90, longitude: 180 }],
    ['coordinates out of range', { latitude: 91.5, longitude: -181 }],
    ['satellites at the ends of their range', { satellites: 32_767 }],
    ['priority at the top of its byte', { priority: 255 as unknown as Position['priority'] }],
  ])('%s', (_what, change) => {
    const position = { ...fix, ...change };
    const fields = fieldsOf(position);
    expect(accepted(readExportEntry(ID, fields, noDecoding))).toMatchObject({ ts: position.ts, payload: fields.payload });
  });

  it('a device id the processor would refuse, as long as field and payload agree', () => {
    const row = accepted(readExportEntry(ID, fieldsOf({ ...fix, deviceId: 'bench tracker #2' }), noDecoding));
    expect(row.deviceId).toBe('bench tracker #2');
  });
});

describe('readExportEntry refuses, saying why', () => {
  it('an entry whose content was trimmed from the stream', () => {
    expect(refusal(readExportEntry(ID, null, noDecoding))).toMatch(/trimmed/);
    expect(refusal(readExportEntry(ID, toStreamEntries([[ID, null]])[0]!.fields, noDecoding))).toMatch(/trimmed/);
  });

  it.each(['device_id', 'codec', 'payload'])('an entry without its %s field', (field) => {
    const fields = fieldsOf(fix);
    delete fields[field];
    expect(refusal(readExportEntry(ID, fields, noDecoding))).toBe('missing device_id, codec or payload field');
  });

  it.each(['device_id', 'codec'])('an entry whose %s field is empty', (field) => {
    expect(refusal(readExportEntry(ID, { ...fieldsOf(fix), [field]: '' }, noDecoding))).toBe('missing device_id, codec or payload field');
  });

  it('a payload longer than the processor takes, before parsing it', () => {
    const fields = withPayload((p) => ({ ...p, attributes: { '1': 1 }, padding: 'x'.repeat(1_048_576) }));
    expect(refusal(readExportEntry(ID, fields, noDecoding))).toMatch(/^payload: longer than 1,048,576 characters \(1,048,\d{3,}\)$/);
    // A payload of exactly the bound is read as usual (its unknown key ignored).
    const within = withPayload((p) => ({ ...p, padding: '' }));
    const room = 1_048_576 - within.payload!.length;
    expect(accepted(readExportEntry(ID, withPayload((p) => ({ ...p, padding: 'x'.repeat(room) })), noDecoding)).payload).toHaveLength(1_048_576);
  });

  it.each([
    ['cut short', '{"device_id":'],
    ['empty', ''],
    ['not JSON at all', 'hello'],
    ['JSON with a trailing comma', '{"device_id":"356307042441013",}'],
  ])('a payload that is not JSON (%s)', (_what, payload) => {
    expect(refusal(readExportEntry(ID, { ...fieldsOf(fix), payload }, noDecoding))).toMatch(/^payload: not JSON \(.+\)$/);
  });

  it.each(['[]', JSON.stringify([{ device_id: fix.deviceId }]), 'null', '42', '"356307042441013"', 'true'])('a payload that is JSON but not an object: %s', (payload) => {
    expect(refusal(readExportEntry(ID, { ...fieldsOf(fix), payload }, noDecoding))).toBe('payload: not a JSON object');
  });

  it.each([
    ['an IO value', '"attributes":{"65000":"\\ud800",'],
    ['an IO id', '"attributes":{"\\udc00":1,'],
    ['a deep array', '"attributes":{"65000":[[[[["x\\udbff"]]]]],'],
  ])('a payload with a lone surrogate escape in %s, which DuckDB would refuse at write (the processor refuses it too)', (_where, replacement) => {
    const fields = fieldsOf(fix);
    const payload = fields.payload!.replace('"attributes":{', replacement);
    expect(() => JSON.parse(payload)).not.toThrow();
    expect(refusal(readExportEntry(ID, { ...fields, payload }, noDecoding))).toBe('payload.attributes: a string with a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape)');
  });

  it('a lone surrogate escape in a field of the sender own is left out with that field, as the processor ignores it', () => {
    const fields = fieldsOf(fix);
    // An 8-byte IO value sent as a plain number keeps its digits in the payload the columns are read from.
    const payload = fields.payload!.replace('"attributes":{', '"note":"ab\\ud83dcd","attributes":{"65001":12345678901234567890,');
    const entry = accepted(readExportEntry(ID, { ...fields, payload }, noDecoding));
    expect(entry.payload).not.toContain('note');
    expect(entry.payload).toContain('"65001":12345678901234567890');
    const original = JSON.parse(payload) as Record<string, unknown>;
    expect(JSON.parse(entry.payload)).toEqual({
      latitude: original.latitude, longitude: original.longitude, altitude: original.altitude, angle: original.angle,
      speed: original.speed, satellites: original.satellites, priority: original.priority, attributes: original.attributes,
    });
  });

  it('a payload whose device differs from the entry field', () => {
    const reason = refusal(readExportEntry(ID, { ...fieldsOf(fix), device_id: '356307042441099' }, noDecoding));
    expect(reason).toBe('device_id: field "356307042441099" differs from payload.device_id');
  });

  it.each<[string, unknown]>([
    ['absent', undefined],
    ['null', null],
    ['the device id as a number', Number(fix.deviceId)],
  ])('a payload whose device_id is %s', (_what, deviceId) => {
    expect(refusal(readExportEntry(ID, withPayload((p) => ({ ...p, device_id: deviceId })), noDecoding))).toMatch(/^device_id: field "356307042441013" differs/);
  });

  it.each<[string, unknown]>([
    ['absent', undefined],
    ['null', null],
    ['epoch milliseconds', fix.ts],
    ['epoch milliseconds as text', String(fix.ts)],
    ['without a zone', '2026-03-14T10:00:00'],
    ['with a space for the T', '2026-03-14 10:00:00Z'],
    ['a date only', '2026-03-14'],
    ['month 13', '2026-13-01T00:00:00Z'],
    ['hour 25', '2026-03-14T25:00:00Z'],
    ['February 30th, which Date.parse alone takes as March 2nd', '2026-02-30T10:00:00Z'],
    ['hour 24', '2026-03-14T24:00:00Z'],
    ['empty', ''],
    ['text', 'yesterday'],
  ])('a timestamp that is %s', (_what, timestamp) => {
    expect(refusal(readExportEntry(ID, withPayload((p) => ({ ...p, timestamp })), noDecoding))).toBe('payload.timestamp: not a real calendar time from 1970 to 9999 (ISO-8601, with a zone)');
  });

  it.each([
    ['the last millisecond of 1969', '1969-12-31T23:59:59.999Z'],
    ['year 0, what a tracker without a GPS time may send', '0000-01-01T00:00:00Z'],
    ['00:30 on 1 January 1970 at +01:00, still 1969 in UTC', '1970-01-01T00:30:00+01:00'],
    ['23:30 on 31 December 9999 at -01:00, already year 10000 in UTC', '9999-12-31T23:30:00-01:00'],
  ])('a time outside what a date partition can name: %s', (_what, timestamp) => {
    expect(refusal(readExportEntry(ID, withPayload((p) => ({ ...p, timestamp })), noDecoding))).toBe('payload.timestamp: not a real calendar time from 1970 to 9999 (ISO-8601, with a zone)');
  });

  it.each(['latitude', 'longitude', 'altitude', 'angle', 'speed', 'satellites', 'priority'])('a payload whose %s is not a finite number', (field) => {
    const expected = `payload.${field}: not a finite number`;
    for (const value of ['12', null, true, {}, [12]]) {
      expect(refusal(readExportEntry(ID, withPayload((p) => ({ ...p, [field]: value })), noDecoding)), JSON.stringify(value)).toBe(expected);
    }
    expect(refusal(readExportEntry(ID, withPayload((p) => ({ ...p, [field]: undefined })), noDecoding)), 'absent').toBe(expected);
    // JSON has no Infinity, but a number too large for a double parses as one.
    const fields = fieldsOf(fix);
    const payload = fields.payload!.replace(new RegExp(`"${field}":[^,}]+`), `"${field}":1e400`);
    expect(payload).toContain(`"${field}":1e400`);
    expect(refusal(readExportEntry(ID, { ...fields, payload }, noDecoding)), '1e400').toBe(expected);
  });

  it.each([-1, 32_768, 1.5, 100_000])('satellites %d', (satellites) => {
    expect(refusal(readExportEntry(ID, withPayload((p) => ({ ...p, satellites })), noDecoding))).toBe('payload.satellites: not an integer from 0 to 32767');
  });

  it.each([-1, 256, 0.5, 1.000001])('priority %d', (priority) => {
    expect(refusal(readExportEntry(ID, withPayload((p) => ({ ...p, priority })), noDecoding))).toBe('payload.priority: not an integer from 0 to 255');
  });

  it.each<[string, unknown]>([
    ['absent', undefined],
    ['null', null],
    ['an array', [1, 2]],
    ['JSON text', '{"239":1}'],
    ['a number', 239],
  ])('attributes that are %s, not an object', (_what, attributes) => {
    expect(refusal(readExportEntry(ID, withPayload((p) => ({ ...p, attributes })), noDecoding))).toBe('payload.attributes: not an object');
  });
});
