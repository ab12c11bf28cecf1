/**
 * Reads the rows of `COPY (SELECT device_id, ts, latitude, longitude, speed ...) TO STDOUT (FORMAT binary)` as they
 * stream in, chunk by chunk, without building a row object or a string per row. Binary rather than text because
 * replay reads millions of rows: numbers arrive as IEEE doubles and a timestamp as one integer, with nothing to
 * parse; the tracker id is decoded only when it changes (rows come ordered by device).
 *
 * Format (PostgreSQL docs, "COPY ... binary format"): an 11-byte signature, int32 flags, int32 extension length and
 * the extension; then per row an int16 field count and, per field, an int32 byte length (-1 for NULL) and the bytes;
 * an int16 -1 ends the data. All integers are big-endian.
 */

export interface FixRowSink {
  /** The rows that follow belong to this tracker. */
  device(deviceId: string): void;
  /** One row: GPS time in epoch ms, coordinates, speed in km/h (0 when NULL). */
  fix(ts: number, lat: number, lon: number, speedKmh: number): void;
}

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** PostgreSQL timestamps count microseconds from 2000-01-01T00:00:00Z. */
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const FIELDS = 5;
const TWO_32 = 4294967296;
/** Enough of the next chunk to finish any cut row (a row is about 65 bytes plus the tracker id). */
const HEAD_BYTES = 1024;

export class CopyFormatError extends Error {
  override name = 'CopyFormatError';
}

/**
 * A `real` column holds a float32. PostgreSQL prints it as the shortest decimal that reads back as the same float32
 * ("87.3"), and that decimal is what every other reader (and the live processor, from the tracker's own JSON)
 * sees, so the bits are turned back into that decimal rather than widened to 87.30000305175781.
 */
export function float4Decimal(value: number): number {
  if (Number.isInteger(value) || !Number.isFinite(value)) return value;
  for (let scale = 10; scale <= 1e9; scale *= 10) {
    const decimal = Math.round(value * scale) / scale;
    if (Math.fround(decimal) === value) return decimal;
  }
  return value;
}

export class FixCopyParser {
  rows = 0;
  private rest: Buffer | null = null;
  private headerDone = false;
  private ended = false;
  private device: Uint8Array = new Uint8Array(0);
  /** Decoded speeds by their float32 bits: a fleet drives at few distinct speeds. */
  private readonly speeds = new Map<number, number>();

  constructor(private readonly sink: FixRowSink) {}

  get done(): boolean {
    return this.ended;
  }

  push(chunk: Buffer): void {
    if (this.ended) {
      if (chunk.length > 0) throw new CopyFormatError('data after the end of the COPY stream');
      return;
    }
    // A row cut by the previous chunk is completed from the head of this one, without copying this whole chunk.
    if (this.rest !== null && this.headerDone) {
      const rest = this.rest;
      const head = Buffer.concat([rest, chunk.subarray(0, HEAD_BYTES)]);
      const pos = this.readRows(head, 0, rest.length);
      if (pos >= rest.length || this.ended) {
        this.rest = null;
        this.continueWith(chunk, pos - rest.length);
        return;
      }
    }
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = null;
    let pos = this.headerDone ? 0 : this.readHeader(buf);
    if (pos < 0) {
      this.rest = Buffer.from(buf);
      return;
    }
    this.continueWith(buf, pos);
  }

  private continueWith(buf: Buffer, start: number): void {
    const pos = this.ended ? start : this.readRows(buf, start);
    if (pos < buf.length) {
      if (this.ended) throw new CopyFormatError('data after the end of the COPY stream');
      this.rest = Buffer.from(buf.subarray(pos));
    }
  }

  /** Call once the stream has ended: a cut-off stream is an error, not a shorter replay. */
  finish(): void {
    if (!this.ended) throw new CopyFormatError(`the COPY stream ended without its trailer after ${this.rows} rows`);
  }

  /** Returns the offset after the header, or -1 when the header is not complete yet. */
  private readHeader(buf: Buffer): number {
    if (buf.length < SIGNATURE.length + 8) return -1;
    if (!buf.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new CopyFormatError('not a binary COPY stream (bad signature)');
    const extension = buf.readUInt32BE(SIGNATURE.length + 4);
    const end = SIGNATURE.length + 8 + extension;
    if (buf.length < end) return -1;
    this.headerDone = true;
    return end;
  }

  /** Reads the complete rows from `start` (up to the first that ends at or after `until`); returns where it stopped. */
  private readRows(buf: Buffer, start: number, until = Number.POSITIVE_INFINITY): number {
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const end = buf.length;
    const sink = this.sink;
    let pos = start;
    while (pos + 2 <= end) {
      const fields = view.getInt16(pos);
      if (fields === -1) {
        this.ended = true;
        return pos + 2;
      }
      if (fields !== FIELDS) throw new CopyFormatError(`expected ${FIELDS} columns per row, got ${fields}`);
      // device_id text, ts timestamptz, latitude float8, longitude float8, speed real (nullable)
      let p = pos + 2;
      if (p + 4 > end) break;
      const idLength = view.getInt32(p);
      if (idLength < 0) throw new CopyFormatError('device_id is NULL');
      const idAt = p + 4;
      p = idAt + idLength;
      // ts, latitude, longitude: 4 + 8 bytes each; speed: 4 + 4, or 4 when NULL.
      if (p + 36 + 4 > end) break;
      const speedLength = view.getInt32(p + 36);
      const rowEnd = p + 40 + (speedLength > 0 ? speedLength : 0);
      if (rowEnd > end) break;
      if (view.getInt32(p) !== 8 || view.getInt32(p + 12) !== 8 || view.getInt32(p + 24) !== 8) {
        throw new CopyFormatError('expected non-NULL 8-byte ts, latitude and longitude');
      }
      if (!this.sameDevice(buf, idAt, idLength)) {
        this.device = Uint8Array.prototype.slice.call(buf, idAt, idAt + idLength);
        sink.device(buf.toString('utf8', idAt, idAt + idLength));
      }
      const micros = view.getInt32(p + 4) * TWO_32 + view.getUint32(p + 8);
      const ts = Math.floor(micros / 1000) + PG_EPOCH_MS;
      const lat = view.getFloat64(p + 16);
      const lon = view.getFloat64(p + 28);
      const speed = speedLength === 4 ? this.speed(view.getUint32(p + 40), view.getFloat32(p + 40)) : 0;
      sink.fix(ts, lat, lon, speed);
      this.rows++;
      pos = rowEnd;
      if (pos >= until) break;
    }
    return pos;
  }

  private sameDevice(buf: Buffer, at: number, length: number): boolean {
    const device = this.device;
    if (device.length !== length) return false;
    for (let i = length - 1; i >= 0; i--) if (buf[at + i] !== device[i]) return false;
    return true;
  }

  private speed(bits: number, value: number): number {
    if (Number.isInteger(value)) return value;
    let decimal = this.speeds.get(bits);
    if (decimal === undefined) {
      decimal = float4Decimal(value);
      if (this.speeds.size < 100_000) this.speeds.set(bits, decimal);
    }
    return decimal;
  }
}
