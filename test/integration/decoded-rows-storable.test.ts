import fc from 'fast-check';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attributesJson } from '../../src/domain/io/attributes-json.ts';
import { decodeAttributes, ioValueDecoder, type IoMapping, type PreparedIoMapping } from '../../src/domain/io/index.ts';
import { parseStreamEntry } from '../../src/domain/parse-stream-entry.ts';
import type { Position } from '../../src/domain/position.ts';
import { copyField, SMALL_BATCH } from '../../src/store/copy-rows.ts';
import { connectDb } from '../../src/store/db.ts';
import { upsertDecodedAttributes, upsertDecodedAttributesText, type DecodedAttributesRow } from '../../src/store/decoded-attributes.ts';
import { migrateTelemetry } from '../../src/store/migrate.ts';
import { insertPositions } from '../../src/store/positions.ts';
import { createScratchDatabase, dropScratchDatabase, pgUrl } from '../support/stack.ts';

/**
 * Whatever a tracker sends and however a mapping row is filled in, what the parser accepts and the decoder makes,
 * Postgres stores: arbitrary IO values and arbitrary mapping rows, decoded and written through the store's own
 * paths (one statement and COPY), into the real tables.
 */
const databaseName = `pitwall_test_storable_${process.pid}`;
let db: Knex;

beforeAll(async () => {
  await createScratchDatabase(databaseName);
  db = connectDb(pgUrl(databaseName), { pool: 2 });
  await migrateTelemetry(db);
});

afterAll(async () => {
  await db?.destroy();
  await dropScratchDatabase(databaseName);
});

/** Any UTF-16 text: NUL, lone surrogates, control characters and all. */
const anyText = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 12 });
const ioIds = fc.constantFrom(1, 16, 72, 78, 239, 387, 9000, 65535);

const mappingRow: fc.Arbitrary<IoMapping> = fc.record({
  ioId: ioIds,
  attribute: fc.oneof(fc.constantFrom('ignition', 'iso6709_coordinates', 'io_1', '__proto__', ''), anyText),
  valueType: fc.constantFrom<IoMapping['valueType']>('unsigned', 'signed', 'boolean', 'hex', 'ascii', 'float' as IoMapping['valueType']),
  byteSize: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constantFrom(0, -1, 1.5, 256)),
  multiplier: fc.oneof(fc.constantFrom(1, 0.1, 0.001, -0.1, 1e-7, 1e300, 0), fc.double()),
  offset: fc.oneof(fc.constantFrom(0, -40, 273.15, 1e308), fc.double()),
  unit: fc.constantFrom(null, 'V', '°C'),
  invalidValues: fc.oneof(
    fc.constant(null),
    fc.array(fc.oneof(fc.nat(), fc.constantFrom(850, '0000000000000000', 'N/A', '18446744073709551615'), anyText), { maxLength: 3 }),
  ),
});

/** Raw values as the stream contract allows them (the parser checks their shape). */
const rawValue = fc.oneof(
  fc.nat({ max: 2 ** 48 }),
  fc.constantFrom(0, 65, 0x410042, 2 ** 53 - 1, 4294967244),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((n) => ({ __bigint: n.toString() })),
  fc.bigInt({ min: -(1n << 63n), max: -1n }).map((n) => ({ __bigint: n.toString() })),
  fc.uint8Array({ maxLength: 40 }).map((bytes) => ({ __buffer_b64: Buffer.from(bytes).toString('base64') })),
);

/** Mostly what trackers send, with every kind of hostile number among it (fc.double favours extremes). */
const numberField = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 36_000 }).map((n) => n / 100) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.constantFrom(-1, 0, -0, 1e-40, 5e-324, 1e39, 65535, 65536, -32769, 2000.5, 360.5) },
);
const timestamp = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) - 1 }).map((ms) => new Date(ms).toISOString()) },
  // Year 0000 included: JavaScript reads it, Postgres refuses it.
  { weight: 1, arbitrary: fc.date({ min: new Date('0000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }).map((d) => d.toISOString()) },
  { weight: 1, arbitrary: fc.constantFrom('1970-01-01T00:00:00.000Z', '0000-01-01T00:00:00Z', '1999-12-31T23:59:59.999Z', '2100-01-01T00:00:00Z') },
);

/** One stream entry's fields, the payload built from arbitrary values. */
const entryFields = fc
  .record({
    timestamp,
    latitude: fc.oneof({ weight: 4, arbitrary: fc.double({ min: -90, max: 90, noNaN: true }) }, { weight: 1, arbitrary: numberField }),
    longitude: fc.oneof({ weight: 4, arbitrary: fc.double({ min: -180, max: 180, noNaN: true }) }, { weight: 1, arbitrary: numberField }),
    altitude: numberField,
    angle: numberField,
    speed: numberField,
    satellites: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 255 }) }, { weight: 1, arbitrary: fc.integer({ min: -5, max: 70_000 }) }),
    attributes: fc.dictionary(fc.oneof(ioIds.map(String), fc.integer({ min: 0, max: 99_999 }).map(String)), rawValue, { maxKeys: 8 }),
  })
  .map((p) => ({ ...p, priority: 1 }));

let serial = 0;
/** The Positions the parser accepts out of the arbitrary entries; each gets its own device so none collide. */
function parsed(entries: readonly Record<string, unknown>[]): Position[] {
  const positions: Position[] = [];
  for (const payload of entries) {
    const deviceId = `d${++serial}`;
    const fields = { ts: String(payload.timestamp), device_id: deviceId, codec: '8E', payload: JSON.stringify({ device_id: deviceId, ...payload }) };
    const result = parseStreamEntry(fields);
    if (result.ok) positions.push(result.position);
  }
  return positions;
}

/** Decoded as the processor does it (rows prepared once, decodeAttributes); the label is the store's concern. */
function decoded(positions: readonly Position[], rows: readonly IoMapping[]): DecodedAttributesRow[] {
  const prepared = new Map<number, PreparedIoMapping>(rows.map((r) => [r.ioId, { attribute: r.attribute, decode: ioValueDecoder(r) }]));
  return positions.map((p) => ({ deviceId: p.deviceId, ts: p.ts, attributesJson: JSON.stringify(decodeAttributes(p.attributes, prepared)), mappingVersion: 'r000000000001-0000000000000000' }));
}

describe('decoded rows are storable', () => {
  it('Postgres accepts every position the parser accepts and every row the decoder makes from it', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(mappingRow, { maxLength: 8 }), fc.array(entryFields, { minLength: 1, maxLength: 30 }), async (rows, entries) => {
        const positions = parsed(entries);
        accepted += positions.length;
        const rowsOf = decoded(positions, rows);
        expect(await insertPositions(db, positions)).toBe(positions.length);
        expect(await upsertDecodedAttributes(db, rowsOf)).toBe(rowsOf.length);
        // The backfill's path: the same text, character for character, through COPY.
        const json = attributesJson(rows);
        const lines = rowsOf.map((r, i) => `${r.deviceId}\t${new Date(r.ts).toISOString()}\t${copyField(json.fromRaw(positions[i]!.attributes))}\t${r.mappingVersion}\n`);
        expect(await upsertDecodedAttributesText(db, lines.length ? [lines.join('')] : [])).toBe(rowsOf.length);
      }),
      { numRuns: 300 },
    );
    // The arbitraries must reach the database, not only the parser's refusals.
    expect(accepted).toBeGreaterThan(200);
  });

  it('the COPY paths accept a large batch of arbitrary rows as well', async () => {
    const [rows, entries] = fc.sample(fc.tuple(fc.array(mappingRow, { minLength: 4, maxLength: 8 }), fc.array(entryFields, { minLength: 6 * SMALL_BATCH, maxLength: 6 * SMALL_BATCH })), { numRuns: 1, seed: 42 })[0]!;
    const positions = parsed(entries);
    expect(positions.length).toBeGreaterThan(SMALL_BATCH);
    expect(await insertPositions(db, positions)).toBe(positions.length);
    expect(await upsertDecodedAttributes(db, decoded(positions, rows))).toBe(positions.length);
  });

  it('stores the ascii element 387 sent as the number 65 with the demo mapping as "A"', async () => {
    const [position] = parsed([{ timestamp: '2026-03-01T08:00:00.000Z', latitude: 31.43, longitude: -4.23, altitude: 760, angle: 96, speed: 87, satellites: 11, priority: 1, attributes: { '387': 65 } }]);
    const row: IoMapping = { ioId: 387, attribute: 'iso6709_coordinates', valueType: 'ascii', byteSize: 8, multiplier: 1, offset: 0, unit: null, invalidValues: null };
    const [decodedRow] = decoded([position!], [row]);
    await upsertDecodedAttributes(db, [decodedRow!]);
    const stored = await db('decoded_attributes').where({ device_id: position!.deviceId }).first();
    expect(stored.attributes).toEqual({ iso6709_coordinates: 'A' });
  });
});
