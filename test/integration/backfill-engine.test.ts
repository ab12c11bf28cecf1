import type { Knex } from 'knex';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fmb920IoMapping, type IoMappingRow } from '../../src/demo/fmb920-io.ts';
import { mappingVersion, type IoMapping } from '../../src/domain/io/index.ts';
import type { Position } from '../../src/domain/position.ts';
import { BackfillTargetError } from '../../src/jobs/backfill/backfill-target-error.ts';
import { runBackfill, type BackfillCheckpoint, type BackfillOptions } from '../../src/jobs/backfill/run-backfill.ts';
import type { BackfillParams } from '../../src/jobs/backfill/backfill-params.ts';
import { JobCancelledError, type JobContext, type JobProgress } from '../../src/jobs/job.ts';
import { fmb920Attributes } from '../../src/simulator/raw-io.ts';
import { seededRandom } from '../../src/simulator/random.ts';
import { connectDb } from '../../src/store/db.ts';
import { upsertDecodedAttributes } from '../../src/store/decoded-attributes.ts';
import { loadIoMappings } from '../../src/store/io-mappings.ts';
import { mappingRevisionLabel } from '../../src/store/mapping-revisions.ts';
import { migrateTelemetry } from '../../src/store/migrate.ts';
import { insertPositions } from '../../src/store/positions.ts';
import { createSetupTables, setIoMapping } from '../support/setup-tables.ts';
import { createScratchDatabase, dropScratchDatabase, pgUrl } from '../support/stack.ts';

const databaseName = `pitwall_test_backfill_${process.pid}`;
let db: Knex;

const FMB920 = '0b6f8e2a-9d1c-4c8e-8f53-3d7a2f6c1b01';
const OTHER = '0b6f8e2a-9d1c-4c8e-8f53-3d7a2f6c1b02';
const [A, B, C] = ['356307042440001', '356307042440002', '356307042440003']; // FMB920
const D = '356307042440004'; // the other model
const t0 = Date.parse('2026-03-01T08:00:00.000Z');
const FIXES = 120;
const iso = (ms: number) => new Date(ms).toISOString();
const everything = { from: iso(t0 - 3_600_000), to: iso(t0 + 3_600_000) };

const setMapping = (model: string, rows: readonly IoMappingRow[]) => setIoMapping(db, model, rows);

const withRow = (ioId: number, change: Partial<IoMappingRow>) => fmb920IoMapping.map((r) => (r.io_id === ioId ? { ...r, ...change } : r));

function fixesOf(deviceId: string, seed: number): Position[] {
  const random = seededRandom(seed);
  const io = { odometerM: 48_000_000n, tripM: 0, temperatureTenths: -35, iccid: 8_921_201_000_000_000_000n + BigInt(seed), ibutton: Buffer.from([1, 0x9a, 0x3f, 0x21, 0, 0, 0, seed]) };
  return Array.from({ length: FIXES }, (_, i) => {
    io.tripM += 21;
    io.odometerM += 21n;
    io.temperatureTenths += i % 4 === 0 ? 3 : -1;
    const [latitude, longitude, altitude, speed] = [45.1 + i * 1e-4, 6.2 + seed * 1e-3, 1200 + (i % 30), 60 + (i % 50)];
    return {
      deviceId, ts: t0 + i * 1000, latitude, longitude, altitude, angle: 90, speed, satellites: 11, priority: 0, codec: '8E',
      attributes: fmb920Attributes(io, { speedKmh: speed, moving: true, latitude, longitude, altitude, random }),
    };
  });
}

interface Run {
  progress: JobProgress[];
  ctx: JobContext;
  controller: AbortController;
}

function context(checkpoint: unknown = null, onProgress: (p: JobProgress, run: Run) => void = () => {}): Run {
  const controller = new AbortController();
  const run: Run = {
    progress: [],
    controller,
    ctx: {
      db,
      log: pino({ level: 'silent' }),
      signal: controller.signal,
      checkpoint,
      progress: async (p) => {
        run.progress.push(structuredClone(p));
        onProgress(p, run);
      },
    },
  };
  return run;
}

const backfill = (params: BackfillParams, options: BackfillOptions = {}, run = context()) => runBackfill(params, run.ctx, options);

/** decoded_attributes as comparable rows: key, attributes, label (decoded_at apart, which a rewrite refreshes). */
async function decoded(): Promise<Map<string, { attributes: Record<string, unknown>; version: string; decodedAt: number }>> {
  const rows = await db('decoded_attributes').select('device_id', 'ts', 'attributes', 'mapping_version', 'decoded_at').orderBy(['device_id', 'ts']);
  return new Map(rows.map((r) => [`${r.device_id}@${r.ts.toISOString()}`, { attributes: r.attributes, version: r.mapping_version, decodedAt: r.decoded_at.getTime() }]));
}

const withoutTimes = (rows: Awaited<ReturnType<typeof decoded>>) => new Map([...rows].map(([key, r]) => [key, { attributes: r.attributes, version: r.version }]));

async function positionsChecksum(): Promise<string> {
  const [row] = (await db.raw(`SELECT md5(string_agg(p::text, E'\\n' ORDER BY device_id, ts)) AS sum, count(*) AS n FROM positions p`)).rows;
  return `${row.sum}/${row.n}`;
}

/** The rows Directus-side mapping gives now, and the label a backfill will write with it. */
async function currentLabel(model: string): Promise<string> {
  const rows = (await loadIoMappings(db, [model])).get(model)!;
  return mappingRevisionLabel(db, model, rows);
}

beforeAll(async () => {
  await createScratchDatabase(databaseName);
  db = connectDb(pgUrl(databaseName), { pool: 4 });
  await migrateTelemetry(db);
  await createSetupTables(db);
  await db('device_models').insert([{ id: FMB920, name: 'FMB920' }, { id: OTHER, name: 'Other' }]);
  await db('devices').insert([A, B, C].map((imei) => ({ imei, name: imei, model: FMB920 })).concat([{ imei: D, name: D, model: OTHER }]));
  await insertPositions(db, [...fixesOf(A, 1), ...fixesOf(B, 2), ...fixesOf(C, 3), ...fixesOf(D, 4)]);
  // An operator marked one fix of A faulty: no read uses it.
  await db('positions').where({ device_id: A, ts: new Date(t0 + 30_000) }).update({ faulty: true });
});

beforeEach(async () => {
  await setMapping(FMB920, fmb920IoMapping);
  await setMapping(OTHER, fmb920IoMapping.slice(0, 10));
  // What the processor left: everything decoded with the mappings as they were.
  await backfill({ model: FMB920, ...everything });
  await backfill({ model: OTHER, ...everything });
});

afterEach(async () => {
  await db.raw('TRUNCATE decoded_attributes, pitwall_mapping_revisions');
});

afterAll(async () => {
  await db?.destroy();
  await dropScratchDatabase(databaseName);
});

describe('runBackfill', () => {
  it('a corrected multiplier changes that attribute only, over exactly the chosen range and devices', async () => {
    const before = await decoded();
    const positions = await positionsChecksum();
    const oldLabel = before.get(`${A}@${iso(t0)}`)!.version;
    await setMapping(FMB920, withRow(72, { multiplier: 0.01 }));
    const range = { from: iso(t0 + 10_000), to: iso(t0 + 40_000) };

    const summary = await backfill({ devices: [B, A], ...range });

    const label = await currentLabel(FMB920);
    expect(label > oldLabel).toBe(true);
    // 30 s on two devices at 1 Hz, less A's faulty fix.
    expect(summary).toMatchObject({ rows: 59, written: 59, skipped_newer: 0, devices: 2, mapping_versions: { [FMB920]: label }, resumed: false, ...range });
    const after = await decoded();
    expect(after.size).toBe(before.size);
    let changed = 0;
    for (const [key, row] of after) {
      const [device, ts] = key.split('@') as [string, string];
      const was = before.get(key)!;
      const inside = (device === A || device === B) && Date.parse(ts) >= t0 + 10_000 && Date.parse(ts) < t0 + 40_000;
      if (!inside) {
        expect(row, key).toEqual(was); // untouched: same attributes, label and decoded_at
        continue;
      }
      changed += 1;
      expect(row.version).toBe(label);
      const { dallas_temperature_1: now, ...rest } = row.attributes;
      const { dallas_temperature_1: then, ...restBefore } = was.attributes;
      expect(rest).toEqual(restBefore);
      expect(now).toBe(then === null ? null : Number(((then as number) / 10).toFixed(4)));
    }
    expect(changed).toBe(59);
    expect(after.has(`${A}@${iso(t0 + 30_000)}`)).toBe(false); // the faulty fix is never decoded
    expect(await positionsChecksum()).toBe(positions);
  });

  it('a corrected sign on a model changes that attribute on its devices only', async () => {
    await setMapping(FMB920, withRow(19, { value_type: 'unsigned' }));
    await backfill({ model: FMB920, ...everything });
    const before = await decoded();
    expect(before.get(`${C}@${iso(t0)}`)!.attributes.axis_z).toBeGreaterThan(60_000); // read as unsigned: wrong
    const positions = await positionsChecksum();

    await setMapping(FMB920, fmb920IoMapping);
    const summary = await backfill({ model: 'FMB920', ...everything }); // by name works too
    expect(summary).toMatchObject({ rows: 3 * FIXES - 1, written: 3 * FIXES - 1, devices: 3 });

    const after = await decoded();
    for (const [key, row] of after) {
      const was = before.get(key)!;
      if (key.startsWith(D)) {
        expect(row).toEqual(was);
        continue;
      }
      expect(row.attributes.axis_z).toBe((was.attributes.axis_z as number) - 65_536);
      expect({ ...row.attributes, axis_z: 0 }).toEqual({ ...was.attributes, axis_z: 0 });
    }
    expect(await positionsChecksum()).toBe(positions);
  });

  it('gives the same rows when run twice', async () => {
    await setMapping(FMB920, withRow(66, { multiplier: 0.01, unit: 'dV' }));
    const first = await backfill({ model: FMB920, ...everything });
    const once = withoutTimes(await decoded());
    const second = await backfill({ model: FMB920, ...everything });
    expect(withoutTimes(await decoded())).toEqual(once);
    expect({ ...second, duration_ms: 0, rows_per_s: 0 }).toEqual({ ...first, duration_ms: 0, rows_per_s: 0 });
  });

  it('counts positions stored in its range while it runs in its total, so it never ends with more processed than that', async () => {
    const arriving = fixesOf(C, 5).map((fix) => ({ ...fix, ts: fix.ts + FIXES * 1000 })).slice(0, 6);
    let stored: Promise<unknown> | null = null;
    const run = context(null, () => {
      stored ??= insertPositions(db, arriving);
    });
    try {
      const { progress } = await backfill({ devices: [A, C], ...everything }, { batchSize: 50 }, run).then(() => run);
      await stored;
      const last = progress.at(-1)!;
      expect(last.processed).toBe(2 * FIXES - 1 + arriving.length);
      expect(progress.every((p) => p.processed <= (p.total ?? 0))).toBe(true);
      expect(last.total).toBe(last.processed);
    } finally {
      await stored;
      await db('positions').where({ device_id: C }).andWhere('ts', '>=', new Date(t0 + FIXES * 1000)).delete();
    }
  });

  it('cancelled half way and restarted from its checkpoint, ends as an uninterrupted run does', async () => {
    const baseline = await db('decoded_attributes').select('*');
    await setMapping(FMB920, withRow(72, { multiplier: 0.01 }).map((r) => (r.io_id === 17 ? { ...r, value_type: 'unsigned' as const } : r)));
    const options = { batchSize: 25, writers: 2 };
    const total = 3 * FIXES - 1;

    // Cancelled from inside the third progress report after the start.
    const first = context(null, (p, run) => {
      if (run.progress.length === 4) run.controller.abort();
    });
    await expect(backfill({ model: FMB920, ...everything }, options, first)).rejects.toBeInstanceOf(JobCancelledError);
    const saved = first.progress.at(-1)!;
    const checkpoint = saved.checkpoint as BackfillCheckpoint;
    expect(saved.processed).toBeGreaterThanOrEqual(75);
    expect(saved.processed).toBeLessThan(total);
    expect(first.progress.every((p) => p.total === total)).toBe(true);
    expect(first.progress.map((p) => p.processed)).toEqual([...first.progress.map((p) => p.processed)].sort((a, b) => a - b));
    expect(checkpoint).toMatchObject({ rows: saved.processed, written: saved.processed, skipped_newer: 0 });
    expect(checkpoint.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?[+-]\d\d:\d\d$/);
    const label = await currentLabel(FMB920);
    const partly = await db('decoded_attributes').where({ mapping_version: label }).count<{ count: string }[]>('* as count');
    expect(Number(partly[0]!.count)).toBe(saved.processed);

    const second = context(checkpoint);
    const resumed = await backfill({ model: FMB920, ...everything }, options, second);
    expect(resumed).toMatchObject({ rows: total, written: total, skipped_newer: 0, resumed: true });
    expect(second.progress[0]).toMatchObject({ processed: saved.processed, total });
    expect(second.progress.at(-1)).toMatchObject({ processed: total, total });
    const interrupted = withoutTimes(await decoded());

    // The same backfill without interruption, from the same starting rows.
    await db.raw('TRUNCATE decoded_attributes');
    await db.batchInsert('decoded_attributes', baseline, 500);
    const straight = await backfill({ model: FMB920, ...everything }, options);
    expect(straight).toMatchObject({ rows: total, written: total, resumed: false });
    expect(interrupted).toEqual(withoutTimes(await decoded()));
  });

  it('starts again from the beginning when the mapping changed since the checkpoint', async () => {
    await setMapping(FMB920, withRow(72, { multiplier: 0.01 }));
    const first = context(null, (_p, run) => {
      if (run.progress.length === 2) run.controller.abort();
    });
    await expect(backfill({ model: FMB920, ...everything }, { batchSize: 50, writers: 1 }, first)).rejects.toBeInstanceOf(JobCancelledError);
    await setMapping(FMB920, withRow(72, { multiplier: 0.001 }));
    const second = context(first.progress.at(-1)!.checkpoint);
    const summary = await backfill({ model: FMB920, ...everything }, { batchSize: 50, writers: 1 }, second);
    expect(summary).toMatchObject({ rows: 3 * FIXES - 1, resumed: false });
    expect(second.progress[0]).toMatchObject({ processed: 0, checkpoint: null });
    const labels = await db('decoded_attributes').whereIn('device_id', [A, B, C]).distinct('mapping_version');
    expect(labels).toEqual([{ mapping_version: await currentLabel(FMB920) }]);
  });

  it('keeps rows of a newer mapping version against an older writer, whoever writes last', async () => {
    const older = (await decoded()).get(`${A}@${iso(t0)}`)!.version;
    await setMapping(FMB920, withRow(72, { multiplier: 0.01 }));
    const summary = await backfill({ devices: [A], ...everything });
    const newer = summary.mapping_versions[FMB920]!;
    expect(newer > older).toBe(true);
    const after = await decoded();

    // The processor, still on the older mapping (or a pre-revision bare hash), writes the same fixes again.
    const stale = (version: string) =>
      fixesOf(A, 1)
        .filter((p) => p.ts !== t0 + 30_000) // the faulty fix has no decoded row to defend
        .map((p) => ({ deviceId: p.deviceId, ts: p.ts, attributesJson: '{"stale":true}', mappingVersion: version }));
    expect(await upsertDecodedAttributes(db, stale(older))).toBe(0);
    expect(await upsertDecodedAttributes(db, stale(mappingVersion([])))).toBe(0);
    expect(withoutTimes(await decoded())).toEqual(withoutTimes(after));

    // ... and a backfill running on an older label skips them, counting them.
    await setMapping(FMB920, fmb920IoMapping);
    const revert = await currentLabel(FMB920); // going back is a new, newer revision
    expect(revert > newer).toBe(true);
    await db.raw(`UPDATE decoded_attributes SET mapping_version = 'r999999999999-ffffffffffffffff' WHERE device_id = ? AND ts < ?`, [A, new Date(t0 + 5000)]);
    const skipping = await backfill({ devices: [A], ...everything });
    expect(skipping).toMatchObject({ rows: FIXES - 1, written: FIXES - 6, skipped_newer: 5 });
  });

  it('ends with the newer version everywhere when an older writer keeps writing the same rows meanwhile', async () => {
    const older = (await decoded()).get(`${A}@${iso(t0)}`)!.version;
    await setMapping(FMB920, withRow(72, { multiplier: 0.01 }));
    const fixes = [A, B, C].flatMap((device, i) => fixesOf(device, i + 1)).filter((p) => !(p.deviceId === A && p.ts === t0 + 30_000));
    const random = seededRandom(7);
    let done = false;
    const staleWriter = (async () => {
      let batches = 0;
      // Shuffled batches, as the processor would write late duplicates: the store sorts them, so no deadlock.
      while (!done || batches < 3) {
        const batch = Array.from({ length: 40 }, () => fixes[Math.floor(random() * fixes.length)]!);
        await upsertDecodedAttributes(db, batch.map((p) => ({ deviceId: p.deviceId, ts: p.ts, attributesJson: '{"stale":true}', mappingVersion: older })));
        batches += 1;
      }
      return batches;
    })();
    const summary = await backfill({ model: FMB920, ...everything }, { batchSize: 20, writers: 2 }).finally(() => (done = true));
    expect(await staleWriter).toBeGreaterThanOrEqual(3);
    const label = summary.mapping_versions[FMB920]!;
    const rows = [...(await decoded())].filter(([key]) => !key.startsWith(D));
    expect(rows).toHaveLength(fixes.length);
    for (const [key, row] of rows) {
      expect(row.version, key).toBe(label);
      expect(row.attributes.stale, key).toBeUndefined();
    }
    expect(summary.written + summary.skipped_newer).toBe(fixes.length);
  });

  it('refuses unknown models and devices, and models without a mapping', async () => {
    await expect(backfill({ model: 'FMB999', ...everything })).rejects.toThrow(new BackfillTargetError('device model "FMB999" does not exist (give a device_models id or name)'));
    await expect(backfill({ devices: [A, '111', '222'], ...everything })).rejects.toThrow('unknown device IMEIs: 111, 222');
    await db('io_mappings').where({ model: OTHER }).delete();
    await expect(backfill({ devices: [A, D], ...everything })).rejects.toBeInstanceOf(BackfillTargetError);
    await expect(backfill({ model: 'Other', ...everything })).rejects.toThrow(/has no IO mapping rows/);
  });

  it('stops before reading anything when cancelled already', async () => {
    const run = context();
    run.controller.abort();
    await expect(backfill({ model: FMB920, ...everything }, {}, run)).rejects.toBeInstanceOf(JobCancelledError);
    expect(run.progress).toEqual([]);
  });
});

describe('mappingRevisionLabel', () => {
  const rows = (multiplier: number): IoMapping[] => [{ ioId: 72, attribute: 't', valueType: 'signed', byteSize: 4, multiplier, offset: 0, unit: null, invalidValues: null }];
  /** Sets the model's table in io_mappings and returns it as a caller loads it. */
  const mapped = async (multiplier: number): Promise<IoMapping[]> => {
    await setMapping(FMB920, withRow(72, { multiplier }));
    return (await loadIoMappings(db, [FMB920])).get(FMB920)!;
  };

  it('gives a new, greater revision each time the table changes, reverts included, and agrees under concurrency', async () => {
    await db.raw('TRUNCATE pitwall_mapping_revisions');
    const a = await mapped(0.1);
    const labels = await Promise.all(Array.from({ length: 6 }, () => mappingRevisionLabel(db, FMB920, a)));
    expect(new Set(labels).size).toBe(1);
    const b = await mapped(0.01);
    const labelB = await mappingRevisionLabel(db, FMB920, b);
    const a2 = await mapped(0.1);
    const labelA2 = await mappingRevisionLabel(db, FMB920, a2);
    expect([labels[0]!, labelB, labelA2]).toEqual([labels[0]!, labelB, labelA2].sort());
    expect(new Set([labels[0], labelB, labelA2]).size).toBe(3);
    expect(labelA2.endsWith(labels[0]!.slice(-16))).toBe(true);
    const [{ count }] = (await db('pitwall_mapping_revisions').where({ model: FMB920 }).count('* as count')) as [{ count: string }];
    expect(Number(count)).toBe(3);

    // A caller that loaded the table just before it changed gets an older label, and registers nothing.
    expect(await mappingRevisionLabel(db, FMB920, b)).toBe(labelB);
    expect(await mappingRevisionLabel(db, FMB920, rows(7))).toBe(`r000000000000-${mappingVersion(rows(7))}`);
    const [{ count: still }] = (await db('pitwall_mapping_revisions').where({ model: FMB920 }).count('* as count')) as [{ count: string }];
    expect(Number(still)).toBe(3);
  });
});
