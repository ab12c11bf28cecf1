/** A raw Teltonika IO value exactly as the stream carries it (CONTRACTS section 1). */
export type RawIoValue = number | { __bigint: string } | { __buffer_b64: string };

/** Raw IO elements keyed by IO id as a decimal string. Kept as received, sentinel values included. */
export type RawAttributes = Record<string, RawIoValue>;

export type Codec = '8' | '8E' | '16';

/** One GPS fix of one tracker, checked and typed. `ts` is epoch milliseconds of the GPS time. */
export interface Position {
  deviceId: string;
  ts: number;
  latitude: number;
  longitude: number;
  altitude: number;
  angle: number;
  speed: number;
  satellites: number;
  priority: 0 | 1 | 2;
  attributes: RawAttributes;
  codec: Codec;
}
