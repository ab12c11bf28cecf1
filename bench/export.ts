/**
 * Analytics exporter throughput against the most any stream consumer can do here (BENCHMARKS.md, `export`).
 *
 * N distinct simulated fixes of FMB920 trackers (the demo race, replicated onto more devices, all registered with the
 * FMB920 IO mapping in a scratch database, so every row is decoded) are put on a fresh Redis stream. In the same run:
 * - a bare drain: XREADGROUP in batches of 10,000 and XACK, nothing else, in a group of its own;
 * - `pitwall exporter` as its own process, from its first read until its group has nothing left to read or
 *   acknowledge, with its default settings (zstd);
 * - the bare drain again, in a new group: `drain_rows_per_s` is the mean of the two, so that the machine's drift
 *   during the run (its speed changed by up to half between runs) weighs on both sides of `ratio` alike;
 * - the Parquet writer's own rate: DuckDB copying the exported rows, already in memory, to one zstd Parquet file.
 * Then every file is read back with DuckDB (`read_parquet(..., hive_partitioning = true)`) and compared with the
 * stream: `duplicated` and `missing` count stream ids seen twice and never. `rss_mb` is the exporter's peak RSS.
 * `cpu_s` is the exporter's CPU time, `redis_cpu_s` Redis's during the exporter's run and `drain_redis_cpu_s` during
 * one drain (the mean of the two): Redis serves both from the same cores.
 *
 *   npm run bench -- export [--positions 300000] [--file-rows <EXPORT_FILE_ROWS>] [--timeout 300]
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import { Redis } from 'ioredis';
import { demoEntries } from '../src/demo/demo-race.ts';
import { fmb920IoMapping } from '../src/demo/fmb920-io.ts';
import { repoRoot } from '../src/devstack/directus-process.ts';
import { EXPORT_GROUP } from '../src/exporter/exporter.ts';
import { toStreamFields } from '../src/simulator/publish.ts';
import { connectDb } from '../src/store/db.ts';
import { migrateTelemetry } from '../src/store/migrate.ts';
import { groupInfo } from '../src/stream/consumer-group.ts';
import { createSetupTables, setIoMapping } from '../test/support/setup-tables.ts';
import { createScratchDatabase, dropScratchDatabase, freePort, pgUrl, REDIS_URL } from '../test/support/stack.ts';
import { copiesFor, demoRace, replicaId, replicatedFixes } from './replicated-race.ts';
import { cleanUp, measuredOn, progressFor, report } from './support.ts';

const { values: args } = parseArgs({
  options: {
    positions: { type: 'string', default: '300000' },
    /** EXPORT_FILE_ROWS; the exporter's own default when absent. */
    'file-rows': { type: 'string' },
    timeout: { type: 'string', default: '300' },
  },
});
const positions = Number(args.positions);
const timeoutMs = Number(args.timeout) * 1000;
for (const [name, value] of [['--positions', positions], ['--timeout', timeoutMs]] as const) {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}: expected a positive integer`);
}

const progress = progressFor('export');
const MODEL = '5d1f0c8e-7a51-4d0b-9b7e-f1a2c3d4e5f6';
const databaseName = `pitwall_bench_export_${process.pid}`;
const stream = `bench:telemetry:${randomUUID()}`;
const seconds = (since: number) => (performance.now() - since) / 1000;
/** USER_HZ of /proc/<pid>/stat on Linux. */
const CLOCK_TICKS = 100;

async function fillStream(redis: Redis, start: number): Promise<void> {
  let pipeline = redis.pipeline();
  let queued = 0;
  for (const fix of replicatedFixes(demoRace(start), positions)) {
    pipeline.xadd(stream, '*', ...toStreamFields(fix));
    if (++queued % 1000 === 0) {
      await pipeline.exec();
      pipeline = redis.pipeline();
    }
  }
  await pipeline.exec();
}

/** Redis's own CPU time (all its threads), in seconds. */
async function redisCpuS(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return field('used_cpu_sys') + field('used_cpu_user');
}

/** XREADGROUP in large batches and XACK: what any consumer of this stream must at least do. */
async function bareDrain(redis: Redis, group: string): Promise<{ rowsPerS: number; redisCpuS: number }> {
  await redis.xgroup('CREATE', stream, group, '0');
  const redisCpuBefore = await redisCpuS(redis);
  const started = performance.now();
  let drained = 0;
  for (;;) {
    const reply = (await redis.xreadgroup('GROUP', group, 'drain', 'COUNT', 10_000, 'STREAMS', stream, '>')) as [string, [string, string[]][]][] | null;
    const entries = reply?.[0]?.[1] ?? [];
    if (entries.length === 0) break;
    await redis.xack(stream, group, ...entries.map(([id]) => id));
    drained += entries.length;
  }
  const elapsed = seconds(started);
  const redisCpu = (await redisCpuS(redis)) - redisCpuBefore;
  await redis.xgroup('DESTROY', stream, group);
  if (drained !== positions) throw new Error(`bare drain read ${drained} entries, expected ${positions}`);
  return { rowsPerS: drained / elapsed, redisCpuS: redisCpu };
}

/** RSS (bytes) and CPU seconds of a process, from /proc. */
async function processUsage(pid: number): Promise<{ rss: number; cpuS: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return { rss, cpuS: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS };
}

async function runExporter(redis: Redis, dir: string, databaseUrl: string) {
  await redis.xgroup('CREATE', stream, EXPORT_GROUP, '0');
  const redisCpuBefore = await redisCpuS(redis);
  const metricsPort = await freePort();
  const child = spawn(join(repoRoot, 'bin/pitwall'), ['exporter'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...(process.env.NODE_OPTIONS ? { NODE_OPTIONS: process.env.NODE_OPTIONS } : {}), REDIS_URL, REDIS_TELEMETRY_STREAM: stream, DATABASE_URL: databaseUrl, EXPORT_DIR: dir, METRICS_PORT: String(metricsPort), ...(args['file-rows'] ? { EXPORT_FILE_ROWS: args['file-rows'] } : {}), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    let rssStart = 0;
    let rssPeak = 0;
    let cpuS = 0;
    let memory: Record<string, number> = {};
    let started: number | null = null;
    const deadline = performance.now() + timeoutMs;
    // Until every entry is read; then SIGTERM, on which the exporter writes and acknowledges its last batch and
    // exits: the clock stops at its exit, so a last batch waiting for its rotation age is not counted as idle time.
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the exporter exited with ${child.exitCode}`);
      if (performance.now() > deadline) throw new Error(`the exporter did not finish within ${timeoutMs / 1000} s`);
      const usage = await processUsage(child.pid!).catch(() => null);
      if (usage) {
        rssPeak = Math.max(rssPeak, usage.rss);
        cpuS = usage.cpuS;
      }
      const info = await groupInfo(redis, stream, EXPORT_GROUP);
      if (started === null && info && info.lastDeliveredId !== '0-0') {
        started = performance.now();
        rssStart = usage?.rss ?? 0;
      }
      if (started !== null && info?.lag === 0) {
        memory = ((await (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).json()) as { memory: Record<string, number> }).memory;
        break;
      }
      await sleep(started === null ? 20 : 50);
    }
    child.kill('SIGTERM');
    while (child.exitCode === null) {
      const usage = await processUsage(child.pid!).catch(() => null);
      if (usage) {
        rssPeak = Math.max(rssPeak, usage.rss);
        cpuS = usage.cpuS;
      }
      await Promise.race([exited, sleep(50)]);
    }
    const elapsed = seconds(started!);
    const redisCpu = (await redisCpuS(redis)) - redisCpuBefore;
    if (child.exitCode !== 0) throw new Error(`the exporter exited with ${child.exitCode} on SIGTERM`);
    const info = await groupInfo(redis, stream, EXPORT_GROUP);
    if (info?.pending !== 0) throw new Error(`${info?.pending} entries left unacknowledged`);
    return { rowsPerS: positions / elapsed, elapsed, rssStart, rssPeak, cpuS, redisCpuS: redisCpu, memory };
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

/** Reads every file back: which stream ids appear, how often, and how many rows carry decoded attributes. */
async function readBack(redis: Redis, dir: string) {
  const instance = await DuckDBInstance.create(':memory:');
  const duck = await instance.connect();
  try {
    const files = join(dir, '**', '*.parquet');
    await duck.run(`CREATE TABLE exported AS SELECT * FROM read_parquet('${files}', hive_partitioning = true)`);
    const [summary] = (await duck.runAndReadAll('SELECT count(*) AS n, count(DISTINCT stream_id) AS ids, count(decoded_attributes) AS decoded, count(DISTINCT date) AS dates FROM exported')).getRowObjectsJS() as {
      n: bigint;
      ids: bigint;
      decoded: bigint;
      dates: bigint;
    }[];
    const exportedIds = new Set((await duck.runAndReadAll('SELECT DISTINCT stream_id FROM exported')).getColumnsJS()[0] as string[]);
    let missing = 0;
    for (let from = '-'; ; ) {
      const page = (await redis.xrange(stream, from, '+', 'COUNT', 10_000)) as [string, string[]][];
      const ids = from === '-' ? page : page.slice(1);
      if (ids.length === 0) break;
      for (const [id] of ids) if (!exportedIds.has(id)) missing += 1;
      from = page.at(-1)![0];
    }
    // The writer's own rate: the same rows, already in DuckDB, to one zstd Parquet file.
    const copyFile = join(dir, 'writer-only.parquet.bench');
    const started = performance.now();
    await duck.run(`COPY (SELECT * EXCLUDE (date) FROM exported) TO '${copyFile}' (FORMAT parquet, COMPRESSION zstd)`);
    const copyRowsPerS = Number(summary!.n) / seconds(started);
    await rm(copyFile, { force: true });
    return { rows: Number(summary!.n), duplicated: Number(summary!.n - summary!.ids), missing, decoded: Number(summary!.decoded), dates: Number(summary!.dates), copyRowsPerS };
  } finally {
    duck.closeSync();
    instance.closeSync();
  }
}

async function directorySize(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.parquet')) continue;
    files += 1;
    bytes += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return { files, bytes };
}

async function main(): Promise<Record<string, unknown>> {
  const redis = new Redis(REDIS_URL);
  await createScratchDatabase(databaseName);
  const db = connectDb(pgUrl(databaseName), { pool: 2, application: 'pitwall-export-bench' });
  const dir = await mkdtemp(join(tmpdir(), 'pitwall-export-bench-'));
  try {
    await migrateTelemetry(db);
    await createSetupTables(db);
    await db('device_models').insert({ id: MODEL, name: 'FMB920' });
    await setIoMapping(db, MODEL, fmb920IoMapping);
    const start = Date.parse('2026-03-14T08:00:00.000Z');
    const copies = copiesFor(positions, demoRace(start).length);
    const imeis = demoEntries.flatMap((e) => Array.from({ length: copies }, (_, c) => replicaId(e.imei, c)));
    await db.batchInsert('devices', imeis.map((imei) => ({ imei, name: imei, model: MODEL })), 1000);

    const started = performance.now();
    await fillStream(redis, start);
    progress(`${positions} entries on the stream in ${seconds(started).toFixed(1)} s`);
    const drainBefore = await bareDrain(redis, 'bench-bare-drain-before');
    progress(`bare drain: ${Math.round(drainBefore.rowsPerS)} entries/s`);
    const run = await runExporter(redis, dir, pgUrl(databaseName));
    progress(`exporter: ${Math.round(run.rowsPerS)} rows/s (${run.elapsed.toFixed(1)} s)`);
    const drainAfter = await bareDrain(redis, 'bench-bare-drain-after');
    progress(`bare drain again: ${Math.round(drainAfter.rowsPerS)} entries/s`);
    const drainRowsPerS = (drainBefore.rowsPerS + drainAfter.rowsPerS) / 2;
    const back = await readBack(redis, dir);
    const size = await directorySize(dir);
    if (back.decoded !== back.rows) throw new Error(`${back.decoded} of ${back.rows} rows have decoded attributes; every tracker has a mapping`);
    return {
      bench: 'export',
      rows: back.rows,
      rows_per_s: Math.round(run.rowsPerS),
      drain_rows_per_s: Math.round(drainRowsPerS),
      drain_rows_per_s_before: Math.round(drainBefore.rowsPerS),
      drain_rows_per_s_after: Math.round(drainAfter.rowsPerS),
      ratio: Number((run.rowsPerS / drainRowsPerS).toFixed(3)),
      copy_rows_per_s: Math.round(back.copyRowsPerS),
      duplicated: back.duplicated,
      missing: back.missing,
      rss_mb: Math.round(run.rssPeak / 2 ** 20),
      rss_start_mb: Math.round(run.rssStart / 2 ** 20),
      heap_used_mb_at_end: run.memory.heapUsed,
      rss_mb_at_end: run.memory.rss,
      cpu_s: Number(run.cpuS.toFixed(1)),
      redis_cpu_s: Number(run.redisCpuS.toFixed(1)),
      drain_redis_cpu_s: Number(((drainBefore.redisCpuS + drainAfter.redisCpuS) / 2).toFixed(1)),
      files: size.files,
      dates: back.dates,
      bytes_per_row: Number((size.bytes / back.rows).toFixed(1)),
      decoded_rows: back.decoded,
      ...(await measuredOn(db, redis)),
    };
  } finally {
    await cleanUp(
      [
        ['stream', () => redis.del(stream, `pitwall:{${stream}}:exporter`)],
        ['files', () => rm(dir, { recursive: true, force: true })],
        ['database', () => db.destroy().then(() => dropScratchDatabase(databaseName))],
        ['redis', async () => redis.disconnect()],
      ],
      progress,
    );
  }
}

report(main(), progress);
