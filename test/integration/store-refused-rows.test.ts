import type { Knex } from 'knex';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Position } from '../../src/domain/position.ts';
import { SMALL_BATCH } from '../../src/store/copy-rows.ts';
import { connectDb } from '../../src/store/db.ts';
import type { DecodedAttributesRow } from '../../src/store/decoded-attributes.ts';
import { storeLiveBatch, storeLiveBatchIsolating, type EntryWrite } from '../../src/store/live-batch.ts';
import { migrateTelemetry } from '../../src/store/migrate.ts';
import { isRowRefusal } from '../../src/store/row-refusal.ts';
import { createScratchDatabase, dropScratchDatabase, freePort, pgUrl } from '../support/stack.ts';

/**
 * Rows Postgres refuses cost only themselves: the batch around them is stored, with its fact changes, and each
 * refused entry comes back with the database's reason. (The parser and decoder keep such rows out; these are
 * written here past them, as a row of a kind not foreseen would arrive.)
 */
const databaseName = `pitwall_test_refused_${process.pid}`;
let db: Knex;
const t0 = Date.parse('2026-03-01T08:00:00.000Z');
const changes = { upserts: [], retractions: ['anomaly:x:signal_loss:1'] };

const fix = (deviceId: string, ts: number, overrides: Partial<Position> = {}): Position => ({
  deviceId, ts, latitude: 45.1, longitude: 6.9, altitude: 1234.5, angle: 271.5, speed: 87.25, satellites: 12, priority: 1, attributes: { '1': 1 }, codec: '8E', ...overrides,
});
const decodedOf = (p: Position, attributes: Record<string, unknown> = { ignition: true }): DecodedAttributesRow => ({ deviceId: p.deviceId, ts: p.ts, attributesJson: JSON.stringify(attributes), mappingVersion: 'v1' });
const write = (id: string, p: Position, decoded: DecodedAttributesRow | null = decodedOf(p)): EntryWrite => ({ id, positions: [p], decoded: decoded ? [decoded] : [] });
const count = async (table: string) => Number((await db(table).count<{ count: string }[]>('* as count'))[0]!.count);

beforeAll(async () => {
  await createScratchDatabase(databaseName);
  // One connection: an isolation that fails half-way must leave it usable.
  db = connectDb(pgUrl(databaseName), { pool: 1 });
  await migrateTelemetry(db);
});

afterEach(async () => {
  await db.raw('TRUNCATE positions, decoded_attributes, pitwall_outbox');
});

afterAll(async () => {
  await db?.destroy();
  await dropScratchDatabase(databaseName);
});

describe('a batch with rows Postgres refuses', () => {
  it.each([
    { path: 'one statement', filler: 10 },
    { path: 'COPY', filler: SMALL_BATCH + 10 },
  ])('is refused whole by storeLiveBatch with an error isRowRefusal recognises ($path)', async ({ filler }) => {
    const fixes = Array.from({ length: filler }, (_, i) => fix(`filler-${i}`, t0));
    const bad = fix('bad', t0);
    const error = await storeLiveBatch(db, [...fixes, bad], [...fixes.map((p) => decodedOf(p)), decodedOf(bad, { text: 'A\u0000B' })], changes).catch((e: unknown) => e);
    expect(isRowRefusal(error)).toBe(true);
    const overflow = await storeLiveBatch(db, [...fixes, fix('high', t0, { altitude: 1e39 })], [], null).catch((e: unknown) => e);
    expect(isRowRefusal(overflow)).toBe(true);
    expect(await count('positions')).toBe(0);
  });

  it('stores every other entry and the fact changes, keeps the position whose decoded attributes alone are refused', async () => {
    const good = Array.from({ length: 40 }, (_, i) => fix(`good-${i}`, t0 + i));
    const nulText = fix('nul', t0);
    const highAltitude = fix('high', t0, { altitude: 1e39 });
    const badTime = fix('year0', Date.parse('0000-06-01T00:00:00Z'));
    const writes = [
      ...good.slice(0, 13).map((p, i) => write(`1-${i}`, p)),
      write('2-0', nulText, decodedOf(nulText, { text: 'A\u0000B' })),
      ...good.slice(13, 30).map((p, i) => write(`3-${i}`, p)),
      write('4-0', highAltitude),
      write('5-0', badTime, null),
      ...good.slice(30).map((p, i) => write(`6-${i}`, p)),
    ];
    const result = await storeLiveBatchIsolating(db, writes, changes);

    expect(result.stored).toBe(good.length + 1);
    expect(result.refused).toEqual([
      { id: '2-0', positionStored: true, reason: expect.stringMatching(/^database refused its decoded attributes \(the position is stored\): unsupported Unicode escape sequence \(\\u0000 cannot be converted to text\.\) \[SQLSTATE 22P05\]$/) },
      { id: '4-0', positionStored: false, reason: 'database refused the entry: "1e+39" is out of range for type real [SQLSTATE 22003]' },
      { id: '5-0', positionStored: false, reason: expect.stringMatching(/^database refused the entry: .*out of range.* \[SQLSTATE 22008\]$/) },
    ]);
    expect(await count('positions')).toBe(good.length + 1);
    expect(await count('decoded_attributes')).toBe(good.length);
    expect((await db('pitwall_outbox').select('payload')).map((r) => r.payload)).toEqual([changes]);
  });

  it('stores a batch refused only as a whole (two rows of one key) entry by entry, refusing none', async () => {
    const p = fix('twice', t0);
    const writes = [write('1-0', p, decodedOf(p, { n: 1 })), write('2-0', { ...p }, decodedOf(p, { n: 2 }))];
    const result = await storeLiveBatchIsolating(db, writes, null);
    expect(result).toEqual({ stored: 1, refused: [] });
    // The first entry's decoded row, as its position is the one stored.
    expect((await db('decoded_attributes').first()).attributes).toEqual({ n: 1 });
  });

  it('is not a refusal when the database cannot be reached: nothing is dead-lettered, the batch is retried', async () => {
    const nowhere = connectDb(`postgres://postgres@127.0.0.1:${await freePort()}/nowhere`, { pool: 1 });
    try {
      const error = await storeLiveBatch(nowhere, [fix('a', t0)], [], null).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(isRowRefusal(error)).toBe(false);
      await expect(storeLiveBatchIsolating(nowhere, [write('1-0', fix('a', t0))], null)).rejects.toThrow();
    } finally {
      await nowhere.destroy();
    }
  });
});
