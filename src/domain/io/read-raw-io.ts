import type { RawIoValue } from '../position.ts';
import { cutShort } from '../cut-short.ts';
import { IoDecodeError } from './io-decode-error.ts';
import type { IoMapping } from './io-mapping.ts';

/** A checked raw value: its unsigned integer and its big-endian bytes (byteSize of them, fewer for short ascii). */
export interface RawIoView {
  integer: bigint;
  bytes: Uint8Array;
}

const isBase64Char = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 43 || c === 47;

/**
 * Padded standard base64, as the contract sends buffers (the empty text included). By hand, not by a pattern: V8
 * runs such a pattern out of stack on a few megabytes.
 */
export function isBase64(text: string): boolean {
  const length = text.length;
  if (length % 4 !== 0) return false;
  let end = length;
  if (length > 0 && text.charCodeAt(length - 1) === 61) end = text.charCodeAt(length - 2) === 61 ? length - 2 : length - 1;
  for (let i = 0; i < end; i++) if (!isBase64Char(text.charCodeAt(i))) return false;
  return true;
}

/**
 * Checks one raw value against its (already checked) mapping and gives both views of it. Numbers above 2^53-1 are
 * refused: JSON has already rounded them, so decoding would invent digits; 64-bit values arrive as `__bigint`.
 */
export function readRawIo(raw: RawIoValue, mapping: IoMapping): RawIoView {
  const { byteSize, valueType } = mapping;
  if (typeof raw === 'object' && raw !== null && '__buffer_b64' in raw && typeof raw.__buffer_b64 === 'string') {
    const bytes = decodeBase64(raw.__buffer_b64);
    // Text may be shorter than its slot (the FMB920 sends ISO 6709 text unpadded); an integer or id may not.
    if (valueType === 'ascii' && bytes.length > byteSize) {
      throw new IoDecodeError(`buffer of ${plural(bytes.length)} is longer than byteSize ${byteSize}`);
    }
    if (valueType !== 'ascii' && bytes.length !== byteSize) {
      throw new IoDecodeError(`buffer of ${plural(bytes.length)} does not match byteSize ${byteSize}`);
    }
    return { integer: bytesToInteger(bytes), bytes };
  }
  const integer = rawInteger(raw);
  if (integer >= 1n << BigInt(8 * byteSize)) {
    throw new IoDecodeError(`raw value ${integer} does not fit in ${plural(byteSize)}`);
  }
  return { integer, bytes: integerToBytes(integer, byteSize) };
}

function rawInteger(raw: RawIoValue): bigint {
  if (typeof raw === 'number') {
    if (!Number.isInteger(raw)) throw new IoDecodeError(`raw value ${raw} is not an integer`);
    if (raw < 0) throw new IoDecodeError(`raw value ${raw} is negative: raw values are unsigned wire integers`);
    if (!Number.isSafeInteger(raw)) {
      throw new IoDecodeError(`raw value ${raw} is above 2^53-1 and may have lost precision: send it as {"__bigint": "..."}`);
    }
    return BigInt(raw);
  }
  if (typeof raw === 'object' && raw !== null && '__bigint' in raw && typeof raw.__bigint === 'string') {
    const text = raw.__bigint;
    if (/^-\d+$/.test(text)) throw new IoDecodeError(`raw value ${text} is negative: raw values are unsigned wire integers`);
    if (!/^\d+$/.test(text)) throw new IoDecodeError(`__bigint "${text}" is not a decimal integer`);
    return BigInt(text);
  }
  throw new IoDecodeError(`raw value ${describe(raw)} is not a number, {"__bigint"} or {"__buffer_b64"}`);
}

// Raw values come from JSON but are typed only by trust, so describe anything without JSON.stringify throwing.
function describe(raw: unknown): string {
  return typeof raw === 'bigint' ? `${raw}n` : (JSON.stringify(raw) ?? String(raw));
}

function plural(count: number): string {
  return `${count} byte${count === 1 ? '' : 's'}`;
}

function decodeBase64(text: string): Uint8Array {
  if (!isBase64(text)) throw new IoDecodeError(`__buffer_b64 "${cutShort(text, 40)}" is not valid base64`);
  return new Uint8Array(Buffer.from(text, 'base64'));
}

function bytesToInteger(bytes: Uint8Array): bigint {
  return bytes.reduce((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
}

function integerToBytes(integer: bigint, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let rest = integer;
  for (let i = size - 1; i >= 0; i -= 1) {
    bytes[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return bytes;
}
