import type { Knex } from 'knex';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseStreamEntry } from '../../src/domain/parse-stream-entry.ts';
import { payloadAttributesText } from '../../src/domain/payload-attributes-text.ts';
import type { Position } from '../../src/domain/position.ts';
import { connectDb } from '../../src/store/db.ts';
import { decodedCopyLine, upsertDecodedAttributes, upsertDecodedAttributesText, type DecodedAttributesRow } from '../../src/store/decoded-attributes.ts';
import { migrateTelemetry } from '../../src/store/migrate.ts';
import { SMALL_BATCH } from '../../src/store/copy-rows.ts';
import { BatchWriter } from '../../src/store/batch-writer.ts';
import { copyNewRows, NewRows, storeLiveBatch } from '../../src/store/live-batch.ts';
import { insertPositions, POSITION_COLUMNS } from '../../src/store/positions.ts';
import { isRowRefusal } from '../../src/store/row-refusal.ts';
import { createScratchDatabase, dropScratchDatabase, pgUrl } from '../support/stack.ts';

const databaseName = `pitwall_test_store_${process.pid}`;
let db: Knex;

const t0 = Date.parse('2026-03-01T08:00:00.123Z');

function fix(deviceId: string, ts: number, overrides: Partial<Position> = {}): Position {
  return {
    deviceId,
    ts,
    latitude: 45.123456789012,
    longitude: 6.987654321098,
    altitude: 1234.5,
    angle: 271.5,
    speed: 87.25,
    satellites: 12,
    priority: 1,
    attributes: { '1': 1, '16': { __bigint: '48123456' }, '66': 12_345 },
    codec: '8E',
    ...overrides,
  };
}

/**
 * Small batches are one statement, large ones go through COPY: each behaviour below is checked both ways, the large
 * way by adding fixes of other trackers after the ones under test.
 */
const paths = [
  { path: 'one statement', filler: 0 },
  { path: 'COPY', filler: SMALL_BATCH },
] as const;
const fillerFixes = (n: number): Position[] => Array.from({ length: n }, (_, i) => fix(`filler-${i}`, t0));
const fillerRows = (n: number): DecodedAttributesRow[] =>
  Array.from({ length: n }, (_, i) => ({ deviceId: `filler-${i}`, ts: t0, attributesJson: JSON.stringify({ n: i }), mappingVersion: 'v1' }));

const count = async (table: string) => Number((await db(table).count<{ count: string }[]>('* as count'))[0]!.count);

/** The large batches of a draining backlog, as the processor writes them: from a thread of their own. */
let writer: BatchWriter;
const WRITER_APPLICATION = `pitwall-test-writer-${process.pid}`;

beforeAll(async () => {
  await createScratchDatabase(databaseName);
  // One connection: a failed COPY must leave it usable for the next batch.
  db = connectDb(pgUrl(databaseName), { pool: 1 });
  await migrateTelemetry(db);
  writer = new BatchWriter({ databaseUrl: pgUrl(databaseName), application: WRITER_APPLICATION, statementTimeoutMs: 60_000 });
});

afterEach(async () => {
  await db.raw('TRUNCATE positions, decoded_attributes, pitwall_outbox');
});

afterAll(async () => {
  await writer?.close();
  await db?.destroy();
  await dropScratchDatabase(databaseName);
});

describe('insertPositions', () => {
  it('stores a fix repeated within one batch once and counts only new rows', async () => {
    const a = fix('356307042441013', t0);
    const b = fix('356307042441013', t0 + 1000);
    expect(await insertPositions(db, [a, b, a, { ...a }])).toBe(2);
    expect(await count('positions')).toBe(2);
  });

  it('ignores fixes already stored by an earlier batch and keeps the first copy', async () => {
    const a = fix('356307042441013', t0);
    const b = fix('356307042441014', t0);
    expect(await insertPositions(db, [a, b])).toBe(2);
    const resent = { ...b, speed: 1 };
    const c = fix('356307042441014', t0 + 1000);
    expect(await insertPositions(db, [resent, c])).toBe(1);
    expect(await insertPositions(db, [a, b, c])).toBe(0);
    expect(await count('positions')).toBe(3);
    const row = await db('positions').where({ device_id: b.deviceId, ts: new Date(b.ts) }).first();
    expect(row.speed).toBe(b.speed);
  });

  it('returns 0 for an empty batch', async () => {
    expect(await insertPositions(db, [])).toBe(0);
  });

  it.each(paths)('round-trips every column, with raw attributes exactly as received ($path)', async ({ filler }) => {
    const attributes = {
      '1': 0,
      '21': 5,
      '24': 4_294_967_295,
      '72': -3.25,
      '78': { __buffer_b64: 'AZo/IQAAAAc=' },
      '16': { __bigint: '18446744073709551615' },
      '11': { __bigint: '-9223372036854775808' },
    } as const;
    const p = fix('356307042441013', t0, { attributes, codec: '16', priority: 2, altitude: -12.5, longitude: -0.000001 });
    expect(await insertPositions(db, [p, ...fillerFixes(filler)])).toBe(1 + filler);
    const row = await db('positions').where({ device_id: p.deviceId }).first();
    expect(row).toMatchObject({
      device_id: p.deviceId,
      latitude: p.latitude,
      longitude: p.longitude,
      altitude: p.altitude,
      angle: p.angle,
      speed: p.speed,
      satellites: p.satellites,
      priority: p.priority,
      codec: '16',
      faulty: false,
    });
    expect(row.ts.getTime()).toBe(p.ts);
    expect(row.attributes).toEqual(attributes);
    const [{ text }] = (await db.raw(`SELECT attributes->'16'->>'__bigint' AS text FROM positions WHERE device_id = ?`, [p.deviceId])).rows;
    expect(text).toBe('18446744073709551615');
  });

  it.each(paths)('joins a caller\'s transaction: several batches in one, all gone when it rolls back ($path)', async ({ filler }) => {
    const a = fix('356307042441013', t0);
    const b = fix('356307042441013', t0 + 1000);
    const decoded = { deviceId: a.deviceId, ts: a.ts, attributesJson: '{"ignition":true}', mappingVersion: 'v1' };
    const stored = await db.transaction(async (trx) => [
      await insertPositions(trx, [a, ...fillerFixes(filler)]),
      await insertPositions(trx, [a, b, ...fillerFixes(filler)]),
      await upsertDecodedAttributes(trx, [decoded, ...fillerRows(filler)]),
      await upsertDecodedAttributes(trx, [{ ...decoded, mappingVersion: 'v2' }, ...fillerRows(filler)]),
    ]);
    // The second write replaces only the row of the newer mapping: the filler's rows of the same mapping stay.
    expect(stored).toEqual([1 + filler, 1, 1 + filler, 1]);
    expect(await count('positions')).toBe(2 + filler);
    expect((await db('decoded_attributes').where({ device_id: a.deviceId }).first()).mapping_version).toBe('v2');

    const c = fix('356307042441013', t0 + 2000);
    const rollback = new Error('the caller failed after storing');
    await expect(
      db.transaction(async (trx) => {
        expect(await insertPositions(trx, [c, ...fillerFixes(filler)])).toBe(1);
        expect(await upsertDecodedAttributes(trx, [{ ...decoded, ts: c.ts }])).toBe(1);
        throw rollback;
      }),
    ).rejects.toBe(rollback);
    expect(await count('positions')).toBe(2 + filler);
    expect(await count('decoded_attributes')).toBe(1 + filler);
  });

  it('stores a large batch in one call', async () => {
    const batch = Array.from({ length: 12_000 }, (_, i) => fix(`3563070424${String(i % 40).padStart(5, '0')}`, t0 + Math.floor(i / 40) * 1000));
    expect(await insertPositions(db, [...batch, ...batch.slice(0, 500)])).toBe(12_000);
    expect(await count('positions')).toBe(12_000);
  });
});

describe('upsertDecodedAttributes', () => {
  type RowOverrides = Partial<DecodedAttributesRow> & { attributes?: Record<string, unknown> };
  const row = ({ attributes = { ignition: true, external_voltage_v: 12.94, odometer_km: 48_123.456 }, ...overrides }: RowOverrides = {}): DecodedAttributesRow => ({
    deviceId: '356307042441013',
    ts: t0,
    attributesJson: JSON.stringify(attributes),
    mappingVersion: 'v1',
    ...overrides,
  });

  it('replaces the row when a new mapping version decodes it again', async () => {
    expect(await upsertDecodedAttributes(db, [row(), row({ ts: t0 + 1000 })])).toBe(2);
    const before = await db('decoded_attributes').where({ ts: new Date(t0) }).first();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const v2 = row({ attributes: { ignition: false, external_voltage_v: 12.9 }, mappingVersion: 'v2' });
    expect(await upsertDecodedAttributes(db, [v2])).toBe(1);
    const after = await db('decoded_attributes').where({ ts: new Date(t0) }).first();
    expect(after).toMatchObject({ mapping_version: 'v2', attributes: JSON.parse(v2.attributesJson) });
    expect(after.decoded_at.getTime()).toBeGreaterThan(before.decoded_at.getTime());
    const untouched = await db('decoded_attributes').where({ ts: new Date(t0 + 1000) }).first();
    expect(untouched.mapping_version).toBe('v1');
    expect(await count('decoded_attributes')).toBe(2);
  });

  it('keeps the first of several rows for the same fix in one batch, as the positions table keeps the first entry', async () => {
    const batch = [row({ attributes: { first: true } }), row({ ts: t0 + 1000 }), row({ attributes: { second: true } })];
    expect(await upsertDecodedAttributes(db, batch)).toBe(2);
    const stored = await db('decoded_attributes').where({ ts: new Date(t0) }).first();
    expect(stored).toMatchObject({ mapping_version: 'v1', attributes: { first: true } });
  });

  it('keeps a stored row when a later batch decodes the fix again with the same mapping (a second entry of one second)', async () => {
    expect(await upsertDecodedAttributes(db, [row({ attributes: { ignition: false } })])).toBe(1);
    expect(await upsertDecodedAttributes(db, [row({ attributes: { ignition: true } })])).toBe(0);
    expect((await db('decoded_attributes').first()).attributes).toEqual({ ignition: false });
    // A backfill decodes again on purpose: its row of the same mapping replaces the stored one.
    expect(await upsertDecodedAttributesText(db, [decodedCopyLine(row({ attributes: { ignition: true } }))])).toBe(1);
    expect((await db('decoded_attributes').first()).attributes).toEqual({ ignition: true });
  });

  it.each(paths)('round-trips text that COPY or JSON must escape ($path)', async ({ filler }) => {
    const attributes = { label: 'tab\there\nnew line\r\\back\\slash "quoted" \\N', unicode: 'Ørsted 🚗', nested: { list: [1, null, 'x'] } };
    const mappingVersion = 'v1\twith\\tab';
    expect(await upsertDecodedAttributes(db, [row({ attributes, mappingVersion }), ...fillerRows(filler)])).toBe(1 + filler);
    const stored = await db('decoded_attributes').where({ device_id: row().deviceId }).first();
    expect(stored.attributes).toEqual(attributes);
    expect(stored.mapping_version).toBe(mappingVersion);
  });

  it.each(paths)('writes nothing from a batch Postgres rejects, and the connection stays usable ($path)', async ({ filler }) => {
    // jsonb refuses the NUL character, so the write fails half way through the batch.
    const batch = [row(), ...fillerRows(filler), row({ ts: t0 + 1000, attributes: { bad: 'nul\u0000' } })];
    await expect(upsertDecodedAttributes(db, batch)).rejects.toThrow(/\\u0000|unicode/i);
    expect(await count('decoded_attributes')).toBe(0);
    expect(await upsertDecodedAttributes(db, [row()])).toBe(1);
    expect(await insertPositions(db, [fix('356307042441013', t0)])).toBe(1);
  });
});

describe('storeLiveBatch', () => {
  /** Each behaviour on the processor's three ways: one statement, COPY, and COPY from the writer's thread. */
  const storePaths = [
    ...paths.map((p) => ({ ...p, threaded: false })),
    { path: 'COPY from the writer thread', filler: SMALL_BATCH, threaded: true },
  ] as const;
  const device = '356307042441013';
  const changes = { upserts: [], retractions: ['anomaly:356307042441013:signal_loss:1'] };
  const decodedOf = (p: Position, attributes: Record<string, unknown> = { ignition: true }): DecodedAttributesRow => ({ deviceId: p.deviceId, ts: p.ts, attributesJson: JSON.stringify(attributes), mappingVersion: 'v1' });

  it.each(storePaths)('stores positions, decoded attributes and the fact changes together ($path)', async ({ filler, threaded }) => {
    const options = threaded ? { writer } : {};
    const fixes = [fix(device, t0), fix(device, t0 + 1000), ...fillerFixes(filler)];
    expect(await storeLiveBatch(db, fixes, fixes.map((p) => decodedOf(p)), changes, options)).toBe(2 + filler);
    expect(await count('positions')).toBe(2 + filler);
    expect(await count('decoded_attributes')).toBe(2 + filler);
    expect((await db('pitwall_outbox').select('source', 'payload')).map((r) => [r.source, r.payload])).toEqual([['live', changes]]);
    // Delivered again: no new position, the same decoded rows, and the changes enqueued again for the courier.
    expect(await storeLiveBatch(db, fixes, fixes.map((p) => decodedOf(p)), changes, options)).toBe(0);
    expect(await count('positions')).toBe(2 + filler);
    expect(await count('pitwall_outbox')).toBe(2);
  });

  it.each(storePaths)('stores nothing of a batch when one of its writes fails, and says which refusal ($path)', async ({ filler, threaded }) => {
    const fixes = [fix(device, t0), ...fillerFixes(filler)];
    const decoded = [...fixes.map((p) => decodedOf(p)), decodedOf(fix(device, t0 + 1000), { bad: 'nul\u0000' })];
    const error = await storeLiveBatch(db, fixes, decoded, changes, threaded ? { writer } : {}).catch((e: unknown) => e);
    expect(String(error)).toMatch(/\\u0000|unicode/i);
    // What the processor dead-letters by: Postgres's own error, across the thread too.
    expect(isRowRefusal(error) && error.code).toBe('22P05');
    expect(await count('positions')).toBe(0);
    expect(await count('decoded_attributes')).toBe(0);
    expect(await count('pitwall_outbox')).toBe(0);
  });

  it.each(storePaths)('stores nothing of a batch whose fence throws before the commit ($path)', async ({ filler, threaded }) => {
    const fixes = [fix(device, t0), ...fillerFixes(filler)];
    let fenced = 0;
    const fence = () => {
      fenced++;
      throw new Error('leases stale');
    };
    await expect(storeLiveBatch(db, fixes, fixes.map((p) => decodedOf(p)), changes, { fence, ...(threaded ? { writer } : {}) })).rejects.toThrow('leases stale');
    expect(fenced).toBe(1);
    expect(await count('positions')).toBe(0);
    expect(await count('decoded_attributes')).toBe(0);
    expect(await count('pitwall_outbox')).toBe(0);
  });

  it('stores a large batch part of which is stored already: the new rows, and a newer mapping\'s decoded row kept', async () => {
    const fixes = [fix(device, t0), fix(device, t0 + 1000), ...fillerFixes(SMALL_BATCH)];
    await insertPositions(db, [fixes[1]!]);
    await upsertDecodedAttributes(db, [{ ...decodedOf(fixes[1]!, { newer: true }), mappingVersion: 'v2' }]);
    // A tracker sending one fix twice in the batch: the first position stays, with its decoded row.
    const again = fix(device, t0, { speed: 99 });
    const decoded = [...fixes.map((p) => decodedOf(p)), decodedOf(again, { resent: true })];
    expect(await storeLiveBatch(db, [...fixes, again], decoded, changes)).toBe(1 + SMALL_BATCH);
    expect(await count('positions')).toBe(2 + SMALL_BATCH);
    expect(await count('decoded_attributes')).toBe(2 + SMALL_BATCH);
    const stored = await db('positions').where({ device_id: device }).orderBy('ts').select('speed');
    expect(stored.map((r) => r.speed)).toEqual([fixes[0]!.speed, fixes[1]!.speed]);
    const rows = await db('decoded_attributes').where({ device_id: device }).orderBy('ts').select('attributes', 'mapping_version');
    expect(rows).toEqual([
      { attributes: { ignition: true }, mapping_version: 'v1' },
      { attributes: { newer: true }, mapping_version: 'v2' },
    ]);
    expect(await count('pitwall_outbox')).toBe(1);
  });

  it.each(storePaths.filter((p) => p.filler > 0))('stores a fix sent twice in a large batch once: its first position, with its decoded row ($path)', async ({ threaded }) => {
    const fixes = [fix(device, t0), ...fillerFixes(SMALL_BATCH)];
    const again = fix(device, t0, { speed: 99 });
    const decoded = [...fixes.map((p) => decodedOf(p)), decodedOf(again, { resent: true })];
    expect(await storeLiveBatch(db, [...fixes, again], decoded, changes, threaded ? { writer } : {})).toBe(1 + SMALL_BATCH);
    expect(await count('positions')).toBe(1 + SMALL_BATCH);
    expect(await count('decoded_attributes')).toBe(1 + SMALL_BATCH);
    expect(await db('positions').where({ device_id: device }).select('speed')).toEqual([{ speed: fixes[0]!.speed }]);
    expect(await db('decoded_attributes').where({ device_id: device }).select('attributes')).toEqual([{ attributes: { ignition: true } }]);
    expect(await count('pitwall_outbox')).toBe(1);
    // Its COPY text holds each (device, time) once, the first entry's position and decoded row.
    const text = new NewRows().add([fixes[0]!, again], [decodedOf(fixes[0]!), decodedOf(again, { resent: true })]);
    expect(text.count).toBe(1);
    expect(Buffer.concat(text.positions).toString().split('\n').filter(Boolean)).toHaveLength(1);
    expect(Buffer.concat(text.decoded).toString()).not.toContain('resent');
  });

  it('copies new rows straight into the tables, and writes nothing when a row is there already', async () => {
    const fixes = [fix(device, t0), ...fillerFixes(SMALL_BATCH)];
    const decoded = fixes.map((p) => decodedOf(p));
    expect(await db.transaction((trx) => copyNewRows(trx, new NewRows().add(fixes, decoded)))).toBe(1 + SMALL_BATCH);
    expect(await count('positions')).toBe(1 + SMALL_BATCH);
    expect(await count('decoded_attributes')).toBe(1 + SMALL_BATCH);
    const later = fix(device, t0 + 1000);
    // One fix already stored: null, and the new one is not written either (the caller takes the keyed path).
    expect(await db.transaction((trx) => copyNewRows(trx, new NewRows().add([later, fixes[0]!], [])))).toBeNull();
    expect(await db.transaction((trx) => copyNewRows(trx, new NewRows().add([later], [decodedOf(fixes[0]!)])))).toBeNull();
    expect(await count('positions')).toBe(1 + SMALL_BATCH);
    // The transaction goes on after a refusal: the savepoint took the failed COPY back.
    expect(
      await db.transaction(async (trx) => {
        expect(await copyNewRows(trx, new NewRows().add([later, fixes[0]!], []))).toBeNull();
        return insertPositions(trx, [later, fixes[0]!]);
      }),
    ).toBe(1);
    expect(await count('positions')).toBe(2 + SMALL_BATCH);
  });

  it('stores the raw attributes cut from the payloads exactly as it stores the parsed ones', async () => {
    // Payloads as odd trackers write them: keys out of order, spaces, a fraction and an escaped id (those two are
    // serialised instead), 64-bit and buffer values.
    const bodies = [
      '{"66": 12345, "1":1, "16":{"__bigint":"18446744073709551615"}}',
      '{"78":{"__buffer_b64":"AZo/IQAAAGU="},"9":-25,"240":0}',
      '{"72":1.50,"1":1}',
      '{"\\u0031":7}',
      '{}',
    ];
    const texts = bodies.map((body, i) =>
      `{"device_id":"raw-${i}","timestamp":"2026-03-01T08:00:00.000Z","latitude":1,"longitude":2,"altitude":3,"angle":4,"speed":5,"satellites":6,"priority":0,"attributes":${body}}`,
    );
    const parsed = texts.map((payload, i) => {
      const entry = parseStreamEntry({ ts: '2026-03-01T08:00:00.000Z', device_id: `raw-${i}`, codec: '8E', payload });
      if (!entry.ok) throw new Error(entry.reason);
      return entry.position;
    });
    const cut = texts.map(payloadAttributesText);
    expect(cut.filter((text) => text !== null)).toHaveLength(3);
    const serialised = parsed.map((p) => ({ ...p, deviceId: `${p.deviceId}-parsed` }));
    const rows = new NewRows().add(parsed, [], cut).add(serialised, []);
    expect(await db.transaction((trx) => copyNewRows(trx, rows))).toBe(2 * texts.length);
    const stored = await db.raw(`
      SELECT a.device_id, a.attributes::text AS cut, b.attributes::text AS serialised
      FROM positions a JOIN positions b ON b.device_id = a.device_id || '-parsed' AND b.ts = a.ts ORDER BY a.device_id`);
    expect(stored.rows).toHaveLength(texts.length);
    for (const row of stored.rows) expect(row.cut).toBe(row.serialised);
    expect(JSON.parse(stored.rows[0].cut)).toEqual({ '1': 1, '16': { __bigint: '18446744073709551615' }, '66': 12345 });
  });

  it('stores new rows from the writer thread after its connection was dropped, and a batch cut off midway not at all', async () => {
    const fixes = [fix(device, t0), ...fillerFixes(SMALL_BATCH)];
    expect(await storeLiveBatch(db, fixes, [], null, { writer })).toBe(1 + SMALL_BATCH);
    // Postgres drops the thread's idle connection (a restart, an administrator).
    await db.raw('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ?', [WRITER_APPLICATION]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const later = [fix(device, t0 + 1000), ...fillerFixes(SMALL_BATCH).map((p) => ({ ...p, ts: t0 + 1000 }))];
    expect(await storeLiveBatch(db, later, [], null, { writer })).toBe(1 + SMALL_BATCH);
    // Dropped in the middle of a batch: not a refusal (the processor retries the batch whole), nothing of it kept.
    const text = new NewRows().add([fix(device, t0 + 2000)], []);
    const cutOff = { sql: 'SELECT pg_terminate_backend(pg_backend_pid())', bindings: [] };
    const error = await writer.write([{ target: `positions (${POSITION_COLUMNS})`, pieces: text.positions }], [cutOff]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(isRowRefusal(error)).toBe(false);
    expect(await count('positions')).toBe(2 * (1 + SMALL_BATCH));
    expect(await storeLiveBatch(db, [fix(device, t0 + 2000), ...fillerFixes(SMALL_BATCH).map((p) => ({ ...p, ts: t0 + 2000 }))], [], null, { writer })).toBe(1 + SMALL_BATCH);
  });

  it('stores fact changes without positions (a tick), and nothing at all for an empty batch', async () => {
    expect(await storeLiveBatch(db, [], [], { upserts: [], retractions: [] })).toBe(0);
    expect(await storeLiveBatch(db, [], [], null)).toBe(0);
    expect(await count('pitwall_outbox')).toBe(0);
    expect(await storeLiveBatch(db, [], [], changes)).toBe(0);
    expect(await count('pitwall_outbox')).toBe(1);
  });
});
