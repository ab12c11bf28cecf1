/**
 * Processor throughput against its limit (BENCHMARKS.md, `processor`).
 *
 * N distinct simulated fixes are put on a fresh Redis stream, then ONE Processor (in this process) drains it; the
 * clock runs from start() until the group has nothing left to read or acknowledge. The processor runs its real
 * path, racing included: its database and Directus are a real test stack (bundle, setup, demo race), every
 * replicated tracker is registered as an FMB920 carried by an entry of the demo event, and the fixes fall inside
 * the demo stages, so each one is IO-decoded, raced through its DevicePipeline, and its facts go to the outbox.
 * In the same run the same N rows go through one raw `COPY positions_copy FROM STDIN` (same columns, same
 * indexes, empty table), which is what the processor is compared with. The COPY figure includes turning the fixes
 * into COPY text in this process, as the processor must too.
 *
 *   npm run bench -- processor [--positions 300000] [--batch <PROCESSOR_BATCH_SIZE>] [--timeout 150]
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { ClientBase } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pino } from 'pino';
import type { Position } from '../src/domain/position.ts';
import { loadProcessorConfig, PROCESSOR_GROUP } from '../src/processor/config.ts';
import { Processor } from '../src/processor/processor.ts';
import { toStreamFields } from '../src/simulator/publish.ts';
import { connectDb, type Db } from '../src/store/db.ts';
import { POSITION_COLUMNS } from '../src/store/positions.ts';
import { groupInfo } from '../src/stream/consumer-group.ts';
import { freePort, REDIS_URL, startTestStack, type TestStack } from '../test/support/stack.ts';
import { copiesFor, demoRace, positionsCopyText, raceStart, registerReplicas, replicatedFixes } from './replicated-race.ts';
import { cleanUp, measuredOn, progressFor, report } from './support.ts';

const { values: args } = parseArgs({
  options: {
    positions: { type: 'string', default: '300000' },
    /** PROCESSOR_BATCH_SIZE; the processor's own default when absent. */
    batch: { type: 'string' },
    timeout: { type: 'string', default: '150' },
    /**
     * Directus in a session of its own, as `npm start` runs it. The events bench's --with-load starts this bench so,
     * in a session of its own too: then the processor and Directus are separate autogroups, as on a race day.
     */
    'directus-session': { type: 'boolean', default: false },
    /** Internal: the child process that fills the stream, so its garbage stays out of this process's rss_mb. */
    'fill-stream': { type: 'string' },
    /** Internal: GPS time of the race start (epoch ms), read from the demo stages by the parent. */
    start: { type: 'string' },
  },
});
const positions = Number(args.positions);
const batchSize = args.batch === undefined ? null : Number(args.batch);
const timeoutMs = Number(args.timeout) * 1000;
for (const [name, value] of [['--positions', positions], ['--batch', batchSize ?? 1], ['--timeout', timeoutMs]] as const) {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}: expected a positive integer`);
}

const progress = progressFor('processor');

/**
 * `count` distinct (device, ts) fixes, generated on demand so the bench's own memory stays out of rss_mb: the demo
 * race, replicated onto more devices (IMEI + 3 digits) that drive the same course at the same time.
 */
function fixes(count: number, start: number): () => Generator<Position> {
  const fixesOfRace = demoRace(start);
  return () => replicatedFixes(fixesOfRace, count);
}

async function fillStream(redis: Redis, stream: string, source: Iterable<Position>, signal: AbortSignal): Promise<number> {
  let sent = 0;
  let batch = redis.pipeline();
  const flush = async () => {
    const results = await batch.exec();
    const failed = results?.find(([error]) => error);
    if (failed) throw failed[0];
    batch = redis.pipeline();
  };
  for (const fix of source) {
    batch.xadd(stream, '*', ...toStreamFields(fix));
    if (++sent % 5000 === 0) {
      signal.throwIfAborted();
      await flush();
    }
  }
  await flush();
  return sent;
}

/** Fills the stream from a child process running this file with --fill-stream; resolves with its entry count. */
function fillStreamInChild(stream: string, start: number, signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    // Only the TypeScript loader, not this process's profiling or tracing flags.
    const args = ['--import', import.meta.resolve('tsx'), process.argv[1]!, '--fill-stream', stream, '--positions', String(positions), '--start', String(start)];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
      signal,
    });
    let output = '';
    child.stdout.on('data', (data: Buffer) => (output += data.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const sent = Number(output.trim());
      if (code === 0 && sent === positions) resolve(sent);
      else reject(new Error(`filling the stream failed (exit code ${code}, output ${JSON.stringify(output.trim())})`));
    });
  });
}

/** One raw COPY of the same rows into an empty twin of positions; returns seconds. */
async function rawCopy(db: Db, source: Iterable<Position>, expected: number): Promise<number> {
  await db.raw('CREATE TABLE positions_copy (LIKE positions INCLUDING ALL)');
  await db.raw('CHECKPOINT');
  const connection = (await db.client.acquireConnection()) as ClientBase;
  try {
    const started = performance.now();
    const sink = connection.query(copyFrom(`COPY positions_copy (${POSITION_COLUMNS}) FROM STDIN`));
    await pipeline(Readable.from(positionsCopyText(source)), sink);
    const seconds = (performance.now() - started) / 1000;
    if (sink.rowCount !== expected) throw new Error(`COPY stored ${sink.rowCount} rows, expected ${expected}`);
    return seconds;
  } finally {
    await db.client.releaseConnection(connection);
  }
}

async function rowCount(db: Db, table: string): Promise<number> {
  const [row] = await db(table).count<{ count: string }[]>('* as count');
  return Number(row!.count);
}

/** The fact changes the processor wrote to the outbox, from its own counter (the courier deletes delivered rows). */
const factsWritten = (processor: Processor) => counted(processor, 'pitwall_facts_total');

const PROGRESS_EVERY_MS = 2000;

/** A counter of the processor's own, summed over its labels. */
async function counted(processor: Processor, name: string): Promise<number> {
  const metric = await processor.registry.getSingleMetric(name)?.get();
  return (metric?.values ?? []).reduce((sum, { value }) => sum + value, 0);
}

/** New positions the processor stored so far. */
const positionsStored = (processor: Processor) => counted(processor, 'pitwall_positions_stored_total');
/** Stream entries the processor has stored (or dead-lettered) so far; each is acknowledged after that. */
const entriesHandled = (processor: Processor) => counted(processor, 'pitwall_stream_entries_total');

/** Starts one Processor on the filled stream; measures the time until every entry is stored and acknowledged. */
async function drain(
  redis: Redis,
  db: Db,
  stack: TestStack,
  stream: string,
  signal: AbortSignal,
): Promise<{ seconds: number; batchSize: number; facts: number; racedDevices: number; rssSeries: number[]; heapEnd: number; niceSeen: number }> {
  const config = loadProcessorConfig({
    DATABASE_URL: stack.databaseUrl,
    REDIS_URL,
    REDIS_TELEMETRY_STREAM: stream,
    PROCESSOR_CONSUMER: 'bench',
    ...(batchSize === null ? {} : { PROCESSOR_BATCH_SIZE: String(batchSize) }),
    PROCESSOR_BLOCK_MS: '200',
    // PROCESSOR_BACKLOG_NICE=0 measures the drain at normal priority (the bench is a backlog: see BacklogPriority).
    ...(process.env.PROCESSOR_BACKLOG_NICE === undefined ? {} : { PROCESSOR_BACKLOG_NICE: process.env.PROCESSOR_BACKLOG_NICE }),
    // The race starts an hour after the demo stages open (midnight UTC), possibly ahead of the clock.
    MAX_FUTURE_SKEW_MS: String(2 * 24 * 3_600_000),
    METRICS_PORT: String(await freePort()),
    LOG_LEVEL: 'silent',
    DIRECTUS_URL: stack.directusUrl,
    DIRECTUS_TOKEN: stack.processorToken,
  });
  const processor = new Processor(config, pino({ level: 'silent' }));
  await db.raw('CHECKPOINT');
  const started = performance.now();
  try {
    await processor.start();
    const deadline = started + timeoutMs;
    let reportedAt = started;
    const rssSeries: number[] = [];
    let niceSeen = 0;
    for (;;) {
      signal.throwIfAborted();
      if (performance.now() - reportedAt >= PROGRESS_EVERY_MS) {
        reportedAt = performance.now();
        rssSeries.push(Math.round(process.memoryUsage().rss / 2 ** 20));
        niceSeen = Math.max(niceSeen, await counted(processor, 'pitwall_processor_nice'));
        // The events bench's --with-load reads these lines.
        const { heapUsed, external, arrayBuffers } = process.memoryUsage();
        const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
        progress(
          `stored ${await positionsStored(processor)} positions in ${((reportedAt - started) / 1000).toFixed(1)} s; RSS ${rssSeries.at(-1)} MB (heap ${mb(heapUsed)}, external ${mb(external)}, array buffers ${mb(arrayBuffers)})`,
        );
      }
      // Its own counter, not a count(*) of positions: Redis cannot tell the group's lag here (the group is created
      // on a filled stream), and counting the table every 20 ms took several seconds of Postgres CPU from the drain.
      const info = await groupInfo(redis, stream, PROCESSOR_GROUP);
      if (info && info.pending === 0 && (await entriesHandled(processor)) >= positions) break;
      if (performance.now() > deadline) throw new Error(`processor not done after ${timeoutMs / 1000} s: ${JSON.stringify(info)}`);
      await sleep(20);
    }
    const seconds = (performance.now() - started) / 1000;
    rssSeries.push(Math.round(process.memoryUsage().rss / 2 ** 20));
    const heapEnd = Math.round(process.memoryUsage().heapUsed / 2 ** 20);
    return { seconds, batchSize: config.PROCESSOR_BATCH_SIZE, facts: await factsWritten(processor), racedDevices: processor.racedDevices, rssSeries, heapEnd, niceSeen };
  } finally {
    await processor.close();
  }
}

async function main(signal: AbortSignal): Promise<Record<string, unknown>> {
  const stream = `bench:telemetry:${randomUUID()}`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  let db: Db | null = null;
  let stopStack: (() => Promise<void>) | null = null;
  let rssPeak = 0;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage.rss())), 50);
  try {
    let started = performance.now();
    const running = await startTestStack(11, { directusSession: args['directus-session'] });
    stopStack = running.stop;
    const { stack } = running;
    db = connectDb(stack.databaseUrl, { pool: 2 });
    const start = await raceStart(db);
    const raceLength = demoRace(start).length;
    const devices = (await registerReplicas(stack, copiesFor(positions, raceLength))).length;
    progress(`Directus stack with ${devices} raced devices ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const source = fixes(positions, start);

    started = performance.now();
    const sent = await fillStreamInChild(stream, start, signal);
    const fillSeconds = (performance.now() - started) / 1000;
    progress(`${sent} entries on ${stream} in ${fillSeconds.toFixed(1)} s`);

    const storedBefore = await rowCount(db, 'positions');
    const rssStart = process.memoryUsage().rss;
    rssPeak = rssStart;
    const drained = await drain(redis, db, stack, stream, signal);
    const rssProcessor = Math.max(rssPeak, process.memoryUsage().rss);
    const stored = (await rowCount(db, 'positions')) - storedBefore;
    const decoded = await rowCount(db, 'decoded_attributes');
    const deadLetters = await redis.xlen(`${stream}:dead-letter`);
    if (stored !== positions || deadLetters !== 0) throw new Error(`stored ${stored} of ${positions}, ${deadLetters} dead letters`);
    if (decoded !== positions) throw new Error(`decoded ${decoded} of ${positions}: not every tracker was an FMB920`);
    if (drained.racedDevices !== devices) throw new Error(`raced ${drained.racedDevices} of ${devices} devices`);
    progress(`processor: ${positions} positions, ${drained.facts} fact changes in ${drained.seconds.toFixed(2)} s`);

    const copySeconds = await rawCopy(db, source(), positions);
    progress(`raw COPY: ${positions} rows in ${copySeconds.toFixed(2)} s`);

    const positionsPerS = positions / drained.seconds;
    const copyRowsPerS = positions / copySeconds;
    return {
      bench: 'processor',
      positions,
      positions_per_s: Math.round(positionsPerS),
      copy_rows_per_s: Math.round(copyRowsPerS),
      ratio: Number((positionsPerS / copyRowsPerS).toFixed(3)),
      rss_mb: Math.round(rssProcessor / 2 ** 20),
      rss_start_mb: Math.round(rssStart / 2 ** 20),
      // Every 2 s of the drain, and at its end: flat when memory does not grow with what was processed.
      rss_end_mb: drained.rssSeries.at(-1),
      rss_series_mb: drained.rssSeries,
      heap_end_mb: drained.heapEnd,
      racing: true,
      devices,
      facts: drained.facts,
      batch: drained.batchSize,
      // The processor thread's highest nice value seen during the drain (PROCESSOR_BACKLOG_NICE while behind).
      backlog_nice: drained.niceSeen,
      processor_s: Number(drained.seconds.toFixed(2)),
      copy_s: Number(copySeconds.toFixed(2)),
      fill_s: Number(fillSeconds.toFixed(1)),
      ...(await measuredOn(db, redis)),
      directus: stack.version,
      date: new Date().toISOString(),
    };
  } finally {
    clearInterval(sampler);
    const steps: [string, () => Promise<unknown>][] = [
      ['delete stream', () => redis.del(stream, `${stream}:dead-letter`)],
      ['close redis', () => redis.quit()],
      ['close postgres', async () => db?.destroy()],
      ['stop Directus and drop its database', async () => stopStack?.()],
    ];
    await cleanUp(steps, progress);
  }
}

async function fillOnly(stream: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  try {
    console.log(await fillStream(redis, stream, fixes(positions, Number(args.start))(), new AbortController().signal));
  } finally {
    redis.disconnect();
  }
}

const abort = new AbortController();
for (const signalName of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signalName, () => {
    progress(`${signalName}: stopping and cleaning up`);
    abort.abort(new Error(`interrupted by ${signalName}`));
  });
}
report(args['fill-stream'] ? fillOnly(args['fill-stream']).then(() => null) : main(abort.signal), progress);
