/**
 * Replay engine throughput against its limit (BENCHMARKS.md, `replay`).
 *
 * A real test stack (Directus 11 with the bundle, setup and the demo race) gets N stored positions: the demo race
 * replicated onto more trackers (IMEI + 3 digits), each registered through Directus as an FMB920 carried by an entry
 * of the demo event, written to `positions` in GPS-time order as live ingestion leaves them (a child process does
 * the writing, so its garbage stays out of rss_mb), then vacuumed, analysed, checkpointed and synced to disk, as
 * history is by the time anyone replays it. Then the engine replays the whole event in preview mode (runReplay:
 * setup, count estimate, COPY out, parse, one DevicePipeline per tracker, diff against the stored facts, summary),
 * while a worker thread pings Directus (`GET /server/ping`) every 20 ms. The engine runs as a runner should run it,
 * off the main thread and out of Directus's way: in a worker thread of its own at nice 10 (`--nice`; on Linux the
 * nice value is per thread), which costs it nothing on an idle machine. In the same run, and in the same thread, the raw
 * `COPY (SELECT <same columns> FROM positions WHERE <same trackers and range> ORDER BY device_id, ts) TO STDOUT` of the
 * same rows is drained without parsing: that read is the limit the engine is compared with. The first engine run
 * of the process is reported apart (`cold_positions_per_s`: nothing compiled yet); `positions_per_s` and
 * `read_rows_per_s` are the medians of the `--runs` runs after it, engine and raw read alternating.
 *
 *   npm run bench -- replay [--positions 1000000] [--runs 5] [--nice 10] [--young-mb 0]
 */
import { execFileSync, spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { ClientBase } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pino } from 'pino';
import { demoId } from '../src/demo/demo-race.ts';
import { copyOut, fixCopySql, type FixRange } from '../src/jobs/replay/read-fixes.ts';
import { runReplay, type ReplaySummary } from '../src/jobs/replay/run-replay.ts';
import { connectDb, type Db } from '../src/store/db.ts';
import { POSITION_COLUMNS } from '../src/store/positions.ts';
import { startTestStack, type TestStack } from '../test/support/stack.ts';
import { demoRace, copiesFor, positionsCopyText, raceStart, registerReplicas, replicatedFixes } from './replicated-race.ts';
import { cleanUp, measuredOn, progressFor, report } from './support.ts';

const { values: args } = parseArgs({
  options: {
    positions: { type: 'string', default: '1000000' },
    /** Engine runs and raw reads alternate this many times after a cold run; the medians are reported. */
    runs: { type: 'string', default: '5' },
    /** Nice value of the engine's thread (0 to 19). */
    nice: { type: 'string', default: '10' },
    /** Young generation of the engine's thread in MB (0: V8's default). */
    'young-mb': { type: 'string', default: '0' },
    /** Internal: the child process that writes the positions. */
    seed: { type: 'string' },
    start: { type: 'string' },
  },
});
const positions = Number(args.positions);
const runs = Number(args.runs);
const nice = Number(args.nice);
const youngMb = Number(args['young-mb']);
for (const [name, value] of [['--positions', positions], ['--runs', runs]] as const) {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}: expected a positive integer`);
}
if (!Number.isInteger(nice) || nice < 0 || nice > 19) throw new Error('--nice: expected an integer from 0 to 19');

const progress = progressFor('replay');
/** Child process: COPYs the positions into the stack's table, prints how many. */
async function seedOnly(databaseUrl: string, start: number): Promise<void> {
  const db = connectDb(databaseUrl, { pool: 1 });
  const connection = (await db.client.acquireConnection()) as ClientBase;
  try {
    const sink = connection.query(copyFrom(`COPY positions (${POSITION_COLUMNS}) FROM STDIN`));
    await pipeline(Readable.from(positionsCopyText(replicatedFixes(demoRace(start), positions))), sink);
    console.log(sink.rowCount);
  } finally {
    await db.client.releaseConnection(connection);
    await db.destroy();
  }
}

function seedInChild(stack: TestStack, start: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), process.argv[1]!, '--seed', stack.databaseUrl, '--positions', String(positions), '--start', String(start)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (data: Buffer) => (output += data.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const stored = Number(output.trim());
      if (code === 0 && stored === positions) resolve(stored);
      else reject(new Error(`seeding positions failed (exit code ${code}, output ${JSON.stringify(output.trim())})`));
    });
  });
}

/** Pings Directus from a thread of its own (this thread is busy replaying), every 20 ms; latencies in ms. */
function startPinger(url: string): { stop: () => Promise<number[]> } {
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    const latencies = [];
    let stopping = false;
    parentPort.on('message', () => { stopping = true; });
    (async () => {
      while (!stopping) {
        const started = performance.now();
        try {
          const res = await fetch(workerData.url, { signal: AbortSignal.timeout(5000) });
          await res.text();
          latencies.push(res.ok ? performance.now() - started : 5000);
        } catch {
          latencies.push(5000);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      parentPort.postMessage(latencies);
    })();
    `,
    { eval: true, workerData: { url: `${url}/server/ping` } },
  );
  return {
    stop: () =>
      new Promise((resolve, reject) => {
        worker.once('message', (latencies: number[]) => {
          void worker.terminate();
          resolve(latencies);
        });
        worker.once('error', reject);
        worker.postMessage('stop');
      }),
  };
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
};

/** The raw read the engine is compared with: the same COPY statement, drained without looking at the bytes. */
async function rawRead(db: Db, range: FixRange): Promise<{ seconds: number; bytes: number }> {
  let bytes = 0;
  const started = performance.now();
  await copyOut(db, fixCopySql(range), (chunk) => (bytes += chunk.length));
  return { seconds: (performance.now() - started) / 1000, bytes };
}

async function replayOnce(db: Db, range: { from: number; to: number }): Promise<{ seconds: number; summary: ReplaySummary; rssPeak: number }> {
  // process.memoryUsage.rss() only (the full memoryUsage() walks the heap spaces), sampled off the engine's path.
  let rssPeak = process.memoryUsage.rss();
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage.rss())), 50);
  const started = performance.now();
  try {
    const summary = await runReplay(
      { event: demoId('event'), from: new Date(range.from).toISOString(), to: new Date(range.to).toISOString(), mode: 'preview' },
      {
        db,
        log: pino({ level: 'silent' }),
        signal: new AbortController().signal,
        checkpoint: null,
        progress: async () => {},
        deliver: async () => {
          throw new Error('preview delivers nothing');
        },
      },
    );
    return { seconds: (performance.now() - started) / 1000, summary, rssPeak: Math.max(rssPeak, process.memoryUsage.rss()) };
  } finally {
    clearInterval(sampler);
  }
}

type EngineRequest = { kind: 'replay'; range: { from: number; to: number } } | { kind: 'read'; range: FixRange };
type EngineAnswer = { seconds: number; bytes?: number; summary?: ReplaySummary; rssPeak?: number } | { error: string };

/** The engine's thread: lowers its own priority, then replays or reads on request. */
async function engineWorker(): Promise<void> {
  const { databaseUrl, nice } = workerData as { databaseUrl: string; nice: number };
  setPriority(nice);
  const db = connectDb(databaseUrl, { pool: 4 });
  parentPort!.on('message', (request: EngineRequest | 'close') => {
    if (request === 'close') {
      void db.destroy().then(() => process.exit(0));
      return;
    }
    const work = request.kind === 'replay' ? replayOnce(db, request.range) : rawRead(db, request.range);
    work.then(
      (answer) => parentPort!.postMessage(answer satisfies EngineAnswer),
      (error: unknown) => parentPort!.postMessage({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies EngineAnswer),
    );
  });
}

function startEngine(databaseUrl: string): { ask: <T>(request: EngineRequest) => Promise<T>; close: () => Promise<void> } {
  const worker = new Worker(new URL(import.meta.url), {
    workerData: { databaseUrl, nice },
    ...(youngMb > 0 ? { resourceLimits: { maxYoungGenerationSizeMb: youngMb } } : {}),
  });
  // One request at a time: the answer (or the thread's failure) settles the pending one.
  let pending: { resolve: (answer: EngineAnswer) => void; reject: (error: Error) => void } | null = null;
  worker.on('message', (answer: EngineAnswer) => pending?.resolve(answer));
  worker.on('error', (error) => pending?.reject(error));
  return {
    ask: <T>(request: EngineRequest) =>
      new Promise<T>((resolve, reject) => {
        pending = {
          resolve: (answer) => ('error' in answer ? reject(new Error(answer.error)) : resolve(answer as T)),
          reject,
        };
        worker.postMessage(request);
      }),
    close: () =>
      new Promise((resolve) => {
        worker.once('exit', () => resolve());
        worker.postMessage('close');
      }),
  };
}

async function main(): Promise<Record<string, unknown>> {
  let db: Db | null = null;
  let engine: ReturnType<typeof startEngine> | null = null;
  let stopStack: (() => Promise<void>) | null = null;
  try {
    let started = performance.now();
    const running = await startTestStack(11);
    stopStack = running.stop;
    const { stack } = running;
    db = connectDb(stack.databaseUrl, { pool: 4 });
    const start = await raceStart(db);
    const raceLength = demoRace(start).length;
    const devices = await registerReplicas(stack, copiesFor(positions, raceLength));
    progress(`Directus stack with ${devices.length} registered trackers ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    started = performance.now();
    await seedInChild(stack, start);
    await db.raw('VACUUM ANALYZE positions');
    await db.raw('CHECKPOINT');
    // Let the OS write the freshly stored gigabyte out now, not during the measured runs.
    execFileSync('sync');
    progress(`${positions} positions stored in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const last = demoRace(start).at(-1)!.ts;
    const range = { from: start - 60_000, to: last + 60_000 };
    const readRange: FixRange = { devices: [...devices].sort(), ...range };
    engine = startEngine(stack.databaseUrl);
    const warm = await engine.ask<{ seconds: number; bytes: number }>({ kind: 'read', range: readRange });
    progress(`warm-up read: ${(warm.bytes / 2 ** 20).toFixed(1)} MB in ${warm.seconds.toFixed(2)} s`);

    const replays: { seconds: number; summary: ReplaySummary; rssPeak: number; pingsMs: number[] }[] = [];
    const raw: { seconds: number }[] = [];
    // Run 0 is the cold one (a fresh process: nothing compiled yet), reported apart; runs 1..N are the measure.
    for (let run = 0; run <= runs; run++) {
      const pinger = startPinger(stack.directusUrl);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const result = await engine.ask<{ seconds: number; summary: ReplaySummary; rssPeak: number }>({ kind: 'replay', range });
      const pingsMs = await pinger.stop();
      replays.push({ ...result, pingsMs });
      if (result.summary.positions !== positions) throw new Error(`the replay read ${result.summary.positions} positions, expected ${positions}`);
      const read = await engine.ask<{ seconds: number; bytes: number }>({ kind: 'read', range: readRange });
      raw.push(read);
      progress(
        `run ${run}${run === 0 ? ' (cold)' : ''}: engine ${result.seconds.toFixed(2)} s (${Math.round(positions / result.seconds)} positions/s, ` +
          `${JSON.stringify(result.summary.timings_ms)}, ping p99 ${percentile(pingsMs, 99).toFixed(1)} ms over ${pingsMs.length}), ` +
          `raw read ${read.seconds.toFixed(2)} s (${Math.round(positions / read.seconds)} rows/s)`,
      );
    }
    const median = (values: number[]) => percentile(values, 50);
    const engineSeconds = median(replays.slice(1).map((e) => e.seconds));
    const readSeconds = median(raw.slice(1).map((r) => r.seconds));
    const pings = replays.flatMap((e) => e.pingsMs);
    const positionsPerS = positions / engineSeconds;
    const readRowsPerS = positions / readSeconds;
    const { summary } = replays.at(-1)!;
    return {
      bench: 'replay',
      positions,
      positions_per_s: Math.round(positionsPerS),
      read_rows_per_s: Math.round(readRowsPerS),
      ratio: Number((positionsPerS / readRowsPerS).toFixed(3)),
      rss_mb: Math.round(Math.max(...replays.map((e) => e.rssPeak)) / 2 ** 20),
      ping_p99_ms: Number(percentile(pings, 99).toFixed(1)),
      ping_p50_ms: Number(percentile(pings, 50).toFixed(1)),
      pings: pings.length,
      cold_positions_per_s: Math.round(positions / replays[0]!.seconds),
      engine_s: replays.map((e) => Number(e.seconds.toFixed(3))),
      engine_nice: nice,
      engine_young_mb: youngMb,
      read_s: raw.map((r) => Number(r.seconds.toFixed(3))),
      timings_ms: summary.timings_ms,
      devices: summary.devices,
      facts: summary.facts,
      runs,
      ...(await measuredOn(db)),
      directus: stack.version,
      date: new Date().toISOString(),
    };
  } finally {
    await cleanUp([
      ['stop the engine thread', async () => engine?.close()],
      ['close postgres', async () => db?.destroy()],
      ['stop Directus and drop its database', async () => stopStack?.()],
    ], progress);
  }
}

if (!isMainThread) {
  void engineWorker();
} else {
  report(args.seed ? seedOnly(args.seed, Number(args.start)).then(() => null) : main(), progress);
}
