/**
 * Backfill throughput against its limit (BENCHMARKS.md, `backfill`).
 *
 * A scratch database gets N positions of D FMB920 trackers at 1 Hz with realistic raw IO (the simulator's
 * fmb920Attributes), and decoded_attributes for all of them with the FMB920 mapping, labelled with its mapping
 * revision, as the processor would have left them (both loaded with COPY). Then the Dallas temperature multiplier
 * is corrected (0.1 -> 0.01) and the engine backfills the model over the whole range, as an organiser would after
 * the fix: every row is read, decoded and replaced. That run, from runBackfill's call to its return, is
 * `rows_per_s`; `cpu_us_per_row` splits its CPU time between this process and the Postgres backends.
 *
 * In the same run, the same decoded rows (the rows the backfill wrote, taken from decoded_attributes into a file
 * first) go through one raw `COPY decoded_copy FROM STDIN` into an empty twin of decoded_attributes (same columns,
 * same primary key): `write_rows_per_s`, the limit the backfill is compared with.
 *
 *   npm run bench -- backfill [--rows 500000] [--devices 200] [--batch 10000] [--writers 2]
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import type { ClientBase } from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { pino } from 'pino';
import { fmb920IoMapping } from '../src/demo/fmb920-io.ts';
import { backfillDefaults, runBackfill, type BackfillOptions, type BackfillSummary } from '../src/jobs/backfill/run-backfill.ts';
import type { JobContext } from '../src/jobs/job.ts';
import { attributesJson } from '../src/domain/io/attributes-json.ts';
import type { RawAttributes } from '../src/domain/position.ts';
import { fmb920Attributes, type IoState } from '../src/simulator/raw-io.ts';
import { seededRandom } from '../src/simulator/random.ts';
import { copyField } from '../src/store/copy-rows.ts';
import { connectDb, type Db } from '../src/store/db.ts';
import { loadIoMappings } from '../src/store/io-mappings.ts';
import { mappingRevisionLabel } from '../src/store/mapping-revisions.ts';
import { migrateTelemetry } from '../src/store/migrate.ts';
import { createSetupTables, setIoMapping } from '../test/support/setup-tables.ts';
import { createScratchDatabase, dropScratchDatabase, pgUrl } from '../test/support/stack.ts';
import { cleanUp, measuredOn, progressFor, report } from './support.ts';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '500000' },
    devices: { type: 'string', default: '200' },
    batch: { type: 'string' },
    writers: { type: 'string' },
  },
});
const rows = Number(args.rows);
const deviceCount = Number(args.devices);
const options: BackfillOptions = {
  ...(args.batch === undefined ? {} : { batchSize: Number(args.batch) }),
  ...(args.writers === undefined ? {} : { writers: Number(args.writers) }),
};
for (const [name, value] of [['--rows', rows], ['--devices', deviceCount], ['--batch', options.batchSize ?? 1], ['--writers', options.writers ?? 1]] as const) {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}: expected a positive integer`);
}

const MODEL = '5d1f0c8e-7a51-4d0b-9b7e-f1a2c3d4e5f6';
/** USER_HZ of /proc/<pid>/stat on Linux. */
const CLOCK_TICKS = 100;
const t0 = Date.parse('2026-03-01T08:00:00.000Z');
const progress = progressFor('backfill');
const imeiOf = (device: number) => `3563070425${String(device).padStart(5, '0')}`;
const seconds = (since: number) => (performance.now() - since) / 1000;

interface Fix {
  device: string;
  ts: string;
  latitude: number;
  longitude: number;
  altitude: number;
  speed: number;
  angle: number;
  attributes: RawAttributes;
}

/** The fixes as COPY text (`line` makes each line), device after device, the same on every call, made on demand. */
function* copyText(line: (fix: Fix) => string): Generator<string> {
  const perDevice = Math.ceil(rows / deviceCount);
  let chunk = '';
  let n = 0;
  for (let device = 0; device < deviceCount && n < rows; device++) {
    const random = seededRandom(device + 1);
    const io: IoState = { odometerM: 31_000_000n + BigInt(device) * 1000n, tripM: 0, temperatureTenths: 180, iccid: 8_921_201_000_000_000_000n + BigInt(device), ibutton: Buffer.from([1, 0x9a, 0x3f, 0x21, 0, 0, device >> 8, device & 0xff]) };
    let [latitude, longitude] = [31.4 + device * 1e-3, -4.2];
    for (let i = 0; i < perDevice && n < rows; i++, n++) {
      const speed = 40 + 60 * random();
      io.tripM += speed / 3.6;
      io.odometerM += BigInt(Math.round(speed / 3.6));
      io.temperatureTenths += random() < 0.5 ? -1 : 1;
      latitude += 1e-4 * random();
      longitude += 1e-4 * random();
      const altitude = 700 + 50 * random();
      const angle = Math.round(360 * random());
      const attributes = fmb920Attributes(io, { speedKmh: speed, moving: true, latitude, longitude, altitude, random });
      chunk += line({ device: imeiOf(device), ts: new Date(t0 + i * 1000).toISOString(), latitude, longitude, altitude, speed, angle, attributes });
      if (chunk.length >= 65_536) {
        yield chunk;
        chunk = '';
      }
    }
  }
  if (chunk) yield chunk;
}

async function withConnection<T>(db: Db, use: (connection: ClientBase) => Promise<T>): Promise<T> {
  const connection = (await db.client.acquireConnection()) as ClientBase;
  try {
    return await use(connection);
  } finally {
    await db.client.releaseConnection(connection);
  }
}

async function copyIn(db: Db, target: string, text: Iterable<string>): Promise<void> {
  await withConnection(db, async (connection) => {
    const sink = connection.query(copyFrom(`COPY ${target} FROM STDIN`));
    await pipeline(Readable.from(text), sink);
    if (sink.rowCount !== rows) throw new Error(`seeded ${sink.rowCount} rows into ${target}, expected ${rows}`);
  });
}

/** Positions, and their decoded attributes as the processor left them with the mapping as it was. */
async function seed(db: Db): Promise<void> {
  await createSetupTables(db);
  await db('device_models').insert({ id: MODEL, name: 'FMB920' });
  await db.batchInsert('devices', Array.from({ length: deviceCount }, (_, d) => ({ imei: imeiOf(d), name: `FMB920 ${d}`, model: MODEL })), 1000);
  await setIoMapping(db, MODEL, fmb920IoMapping);
  await copyIn(
    db,
    'positions (device_id, ts, latitude, longitude, altitude, angle, speed, satellites, priority, attributes, codec)',
    copyText((f) => `${f.device}\t${f.ts}\t${f.latitude}\t${f.longitude}\t${f.altitude}\t${f.angle}\t${f.speed}\t12\t0\t${copyField(JSON.stringify(f.attributes))}\t8E\n`),
  );
  const mapping = (await loadIoMappings(db, [MODEL])).get(MODEL)!;
  const label = await mappingRevisionLabel(db, MODEL, mapping);
  const decoder = attributesJson(mapping);
  await copyIn(db, 'decoded_attributes (device_id, ts, attributes, mapping_version)', copyText((f) => `${f.device}\t${f.ts}\t${copyField(decoder.fromRaw(f.attributes))}\t${label}\n`));
}

/**
 * CPU time used so far by the Postgres backends serving this database (Linux /proc, same machine), in ms. The
 * machine is shared, so wall-clock figures move with the load; CPU time per row moves much less.
 */
async function backendCpuMs(db: Db, database: string): Promise<number> {
  const { rows: backends } = await db.raw('SELECT pid FROM pg_stat_activity WHERE datname = ?', [database]);
  const ticks = await Promise.all(
    backends.map(async ({ pid }: { pid: number }) => {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
      const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
      return fields ? Number(fields[11]) + Number(fields[12]) : 0; // utime + stime, in clock ticks
    }),
  );
  return (ticks.reduce((sum, t) => sum + t, 0) * 1000) / CLOCK_TICKS;
}

function context(db: Db): JobContext {
  return { db, log: pino({ level: 'silent' }), signal: new AbortController().signal, checkpoint: null, progress: async () => {} };
}

/** The rows decoded_attributes holds, to a file, then one raw COPY of that file into an empty twin; returns seconds. */
async function rawWrite(db: Db): Promise<number> {
  const file = join(tmpdir(), `pitwall-backfill-bench-${process.pid}.copy`);
  try {
    await withConnection(db, (connection) =>
      pipeline(connection.query(copyTo('COPY decoded_attributes (device_id, ts, attributes, mapping_version) TO STDOUT')), createWriteStream(file)),
    );
    await db.raw('CREATE TABLE decoded_copy (LIKE decoded_attributes INCLUDING ALL)');
    await db.raw('CHECKPOINT');
    return await withConnection(db, async (connection) => {
      const started = performance.now();
      const sink = connection.query(copyFrom('COPY decoded_copy (device_id, ts, attributes, mapping_version) FROM STDIN'));
      await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), sink);
      const elapsed = seconds(started);
      if (sink.rowCount !== rows) throw new Error(`raw COPY stored ${sink.rowCount} rows, expected ${rows}`);
      return elapsed;
    });
  } finally {
    await rm(file, { force: true });
  }
}

const databaseName = `pitwall_bench_backfill_${process.pid}`;

async function main(): Promise<Record<string, unknown>> {
  await createScratchDatabase(databaseName);
  const db = connectDb(pgUrl(databaseName), { pool: 4, application: 'pitwall-backfill-bench' });
  let rssPeak = 0;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
  try {
    await migrateTelemetry(db);
    let started = performance.now();
    await seed(db);
    const seedSeconds = seconds(started);
    progress(`${rows} positions of ${deviceCount} devices seeded in ${seedSeconds.toFixed(1)} s`);
    const range = { from: new Date(t0 - 1000).toISOString(), to: new Date(t0 + Math.ceil(rows / deviceCount) * 1000 + 1000).toISOString() };

    await db.raw('VACUUM ANALYZE positions, decoded_attributes');
    await db('io_mappings').where({ model: MODEL, io_id: 72 }).update({ multiplier: 0.01 });
    await db.raw('CHECKPOINT');
    const rssStart = process.memoryUsage().rss;
    rssPeak = rssStart;
    const cpuBefore = { node: process.cpuUsage(), postgres: await backendCpuMs(db, databaseName) };
    started = performance.now();
    const summary: BackfillSummary = await runBackfill({ model: MODEL, ...range }, context(db), options);
    const backfillSeconds = seconds(started);
    const nodeCpu = process.cpuUsage(cpuBefore.node);
    const postgresCpuMs = (await backendCpuMs(db, databaseName)) - cpuBefore.postgres;
    const rss = Math.max(rssPeak, process.memoryUsage().rss);
    if (summary.rows !== rows || summary.written !== rows) throw new Error(`backfill read ${summary.rows} and wrote ${summary.written} of ${rows}`);
    const [check] = (await db.raw(`SELECT count(*) FILTER (WHERE mapping_version = ?) AS relabelled FROM decoded_attributes`, [summary.mapping_versions[MODEL]!])).rows;
    if (Number(check.relabelled) !== rows) throw new Error(`${check.relabelled} rows carry the new mapping version, expected ${rows}`);
    progress(`backfill: ${rows} rows in ${backfillSeconds.toFixed(2)} s`);

    const writeSeconds = await rawWrite(db);
    progress(`raw COPY of the same rows: ${writeSeconds.toFixed(2)} s`);

    const rowsPerS = rows / backfillSeconds;
    const writeRowsPerS = rows / writeSeconds;
    return {
      bench: 'backfill',
      rows,
      rows_per_s: Math.round(rowsPerS),
      write_rows_per_s: Math.round(writeRowsPerS),
      ratio: Number((rowsPerS / writeRowsPerS).toFixed(3)),
      rss_mb: Math.round(rss / 2 ** 20),
      rss_start_mb: Math.round(rssStart / 2 ** 20),
      cpu_us_per_row: {
        node: Number(((nodeCpu.user + nodeCpu.system) / rows).toFixed(1)),
        postgres: Number(((postgresCpuMs * 1000) / rows).toFixed(1)),
      },
      devices: deviceCount,
      batch: options.batchSize ?? backfillDefaults.batchSize,
      writers: options.writers ?? backfillDefaults.writers,
      backfill_s: Number(backfillSeconds.toFixed(2)),
      write_s: Number(writeSeconds.toFixed(2)),
      seed_s: Number(seedSeconds.toFixed(1)),
      ...(await measuredOn(db)),
      date: new Date().toISOString(),
    };
  } finally {
    clearInterval(sampler);
    await cleanUp([['close postgres', () => db.destroy()], ['drop the scratch database', () => dropScratchDatabase(databaseName)]], progress);
  }
}

for (const signalName of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signalName, () => {
    progress(`${signalName}: dropping the scratch database`);
    dropScratchDatabase(databaseName).finally(() => process.exit(130));
  });
}
report(main(), progress);
