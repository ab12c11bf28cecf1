import type { Position } from '../../../src/domain/position.ts';
import { toStreamFields } from '../../../src/simulator/publish.ts';
import { toStreamEntries } from '../../../src/stream/stream-entry.ts';

/** One FMC650 fix with every kind of raw IO value: plain, 64-bit (__bigint) and bytes (__buffer_b64). */
export const fix: Position = {
  deviceId: '356307042441013',
  ts: Date.parse('2026-03-14T10:00:00.123Z'),
  latitude: 44.5596541,
  longitude: 6.0793126,
  altitude: 1245.5,
  angle: 271,
  speed: 87,
  satellites: 12,
  priority: 1,
  codec: '8E',
  attributes: { '239': 1, '66': 12345, '16': { __bigint: '18446744073709551615' }, '78': { __buffer_b64: 'AZo/IQAAAGU=' }, '9': -0.5 },
};

/** The fields of the stream entry the simulator (and the tcp-ingestion service) writes for a fix. */
export const fieldsOf = (id: string, position: Position): Record<string, string> => toStreamEntries([[id, toStreamFields(position)]])[0]!.fields!;
