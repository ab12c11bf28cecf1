import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CopyFormatError, FixCopyParser, float4Decimal } from '../../../../src/jobs/replay/fix-copy-parser.ts';

interface Row {
  device: string;
  ts: number;
  lat: number;
  lon: number;
  speed: number | null;
}

const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

/** What `COPY (SELECT device_id, ts, latitude, longitude, speed ...) TO STDOUT (FORMAT binary)` sends. */
function encode(rows: Row[]): Buffer {
  const parts: Buffer[] = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.from([0, 0, 0, 0, 0, 0, 0, 0])];
  for (const row of rows) {
    const id = Buffer.from(row.device, 'utf8');
    const buf = Buffer.alloc(2 + 4 + id.length + 12 * 3 + 4 + (row.speed === null ? 0 : 4));
    let p = buf.writeInt16BE(5, 0);
    p = buf.writeInt32BE(id.length, p);
    p += id.copy(buf, p);
    p = buf.writeInt32BE(8, p);
    p = buf.writeBigInt64BE(BigInt(row.ts - PG_EPOCH_MS) * 1000n, p);
    p = buf.writeInt32BE(8, p);
    p = buf.writeDoubleBE(row.lat, p);
    p = buf.writeInt32BE(8, p);
    p = buf.writeDoubleBE(row.lon, p);
    if (row.speed === null) buf.writeInt32BE(-1, p);
    else buf.writeFloatBE(row.speed, buf.writeInt32BE(4, p));
    parts.push(buf);
  }
  parts.push(Buffer.from([0xff, 0xff]));
  return Buffer.concat(parts);
}

function parse(chunks: Buffer[]): { devices: string[]; rows: Row[] } {
  const devices: string[] = [];
  const rows: Row[] = [];
  let device = '';
  const parser = new FixCopyParser({
    device: (id) => {
      devices.push(id);
      device = id;
    },
    fix: (ts, lat, lon, speed) => rows.push({ device, ts, lat, lon, speed }),
  });
  for (const chunk of chunks) parser.push(chunk);
  parser.finish();
  return { devices, rows };
}

const rows: Row[] = [
  { device: '350936080010011', ts: Date.UTC(2026, 10, 28, 9, 0, 0, 123), lat: 31.429686123456, lon: -4.22686, speed: 87 },
  { device: '350936080010011', ts: Date.UTC(2026, 10, 28, 9, 0, 1, 123), lat: 31.43, lon: -4.226, speed: 87.3 },
  { device: '350936080010029', ts: Date.UTC(1999, 11, 31, 23, 59, 59, 999), lat: -33.5, lon: 151.25, speed: null },
  { device: 'tracker-ü', ts: Date.UTC(2026, 10, 28, 9, 0, 2), lat: 0, lon: 0, speed: 0.1 },
];

describe('FixCopyParser', () => {
  it('reads every row of a binary COPY stream, announcing each tracker once', () => {
    const { devices, rows: out } = parse([encode(rows)]);
    expect(devices).toEqual(['350936080010011', '350936080010029', 'tracker-ü']);
    expect(out).toEqual(rows.map((r) => ({ ...r, speed: r.speed ?? 0 })));
  });

  it('gives the same rows however the stream is cut into chunks', () => {
    const whole = encode(rows);
    const expected = parse([whole]);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: whole.length - 1 }), { maxLength: 12 }), (cuts) => {
        const at = [0, ...cuts.sort((a, b) => a - b), whole.length];
        const chunks = at.slice(1).map((end, i) => whole.subarray(at[i], end));
        expect(parse(chunks)).toEqual(expected);
      }),
    );
    expect(parse([...whole].map((byte) => Buffer.from([byte])))).toEqual(expected);
  });

  it('refuses a stream that is cut off, is not binary COPY, or has other columns', () => {
    const whole = encode(rows);
    expect(() => parse([whole.subarray(0, whole.length - 2)])).toThrow(CopyFormatError);
    expect(() => parse([Buffer.from('350936080010011\t2026-11-28 09:00:00+00\t31.4\t-4.2\t87\n')])).toThrow(/bad signature/);
    const sixColumns = Buffer.from(whole);
    sixColumns.writeInt16BE(6, 19);
    expect(() => parse([sixColumns])).toThrow(/expected 5 columns per row, got 6/);
  });
});

describe('float4Decimal', () => {
  it('gives back the decimal PostgreSQL prints for a real', () => {
    for (const value of [87.3, 0.1, 12.34, 103.8, 1e-3, 250.5, 123456.7]) expect(float4Decimal(Math.fround(value))).toBe(value);
    expect(float4Decimal(87)).toBe(87);
  });

  it('round-trips to the same float32 for any value', () => {
    fc.assert(fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (value) => {
      expect(Math.fround(float4Decimal(Math.fround(value)))).toBe(Math.fround(value));
    }));
  });
});
