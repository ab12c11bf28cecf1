import type { RawAttributes } from '../domain/position.ts';
import { gaussian } from './random.ts';

/** Two's complement of a negative reading on `bytes` bytes, as the tracker puts it on the wire. */
export function toUnsigned(value: number, bytes: number): number {
  const value_ = Math.round(value);
  return value_ >= 0 ? value_ : 2 ** (8 * bytes) + value_;
}

export interface IoState {
  odometerM: bigint;
  tripM: number;
  temperatureTenths: number;
  iccid: bigint;
  ibutton: Buffer;
}

export interface IoReading {
  speedKmh: number;
  moving: boolean;
  latitude: number;
  longitude: number;
  altitude: number;
  random: () => number;
}

/** ISO 6709 text of a fix, e.g. "+31.43000-004.23000+750.000/", the tracker's ASCII coordinate element. */
function iso6709(lat: number, lon: number, alt: number): string {
  const sign = (v: number) => (v < 0 ? '-' : '+');
  return `${sign(lat)}${Math.abs(lat).toFixed(5).padStart(8, '0')}${sign(lon)}${Math.abs(lon).toFixed(5).padStart(9, '0')}${sign(alt)}${Math.abs(alt).toFixed(3)}/`;
}

/**
 * The raw FMB920 IO elements of one fix, encoded as the ingestion service forwards them: plain JSON numbers for
 * up to 4 bytes (signed values as their unsigned wire form), `__bigint` for 8-byte values, `__buffer_b64` for bytes.
 */
export function fmb920Attributes(state: IoState, reading: IoReading): RawAttributes {
  const { random } = reading;
  // Now and then the Dallas sensor reports an error code instead of a temperature.
  const sensorError = random() < 0.01 ? [850, 3000][Math.floor(random() * 2)]! : null;
  const temperature = sensorError ?? toUnsigned(state.temperatureTenths, 4);
  return {
    '239': 1,
    '240': reading.moving ? 1 : 0,
    '80': 0,
    '21': 3 + Math.floor(random() * 3),
    '200': 0,
    '69': 1,
    '181': 8 + Math.floor(random() * 12),
    '182': 5 + Math.floor(random() * 8),
    '66': 13_600 + Math.floor(random() * 800),
    '67': 4_050 + Math.floor(random() * 100),
    '68': 0,
    '113': 100,
    '24': Math.round(reading.speedKmh),
    '205': 31_021,
    '206': 604,
    '241': 60_401,
    '199': Math.round(state.tripM),
    '16': { __bigint: state.odometerM.toString() },
    '1': 0,
    '179': 0,
    '9': Math.floor(random() * 50),
    '72': temperature,
    '17': toUnsigned(gaussian(random, 80), 2),
    '18': toUnsigned(gaussian(random, 80), 2),
    '19': toUnsigned(-1000 + gaussian(random, 60), 2),
    '11': { __bigint: state.iccid.toString() },
    '78': { __buffer_b64: state.ibutton.toString('base64') },
    '387': { __buffer_b64: Buffer.from(iso6709(reading.latitude, reading.longitude, reading.altitude), 'ascii').toString('base64') },
  };
}
