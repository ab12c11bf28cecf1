/**
 * Sharded processors against one (BENCHMARKS.md, `sharding`).
 *
 * The same N simulated fixes (the demo race replicated onto more trackers, every one raced: decoded, timed, facts
 * to the outbox) are drained from a fresh stream first by ONE `pitwall processor` process, then by TWO, each a
 * process of its own as deployed, on the same real Directus test stack. Reported: both throughputs (from the
 * moment the shards are spread over the instances until the last position is stored), each process's CPU time, the order violations of the two-instance run (a tracker's fix stored before an earlier one, from
 * `positions.ingested_at`), and the failover time: two instances on a third stream, one killed with SIGKILL while
 * fixes arrive, until all its shards are held by the other.
 *
 *   npm run bench -- sharding [--positions 100000] [--timeout 150]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Position } from '../src/domain/position.ts';
import { repoRoot } from '../src/devstack/directus-process.ts';
import { toStreamFields } from '../src/simulator/publish.ts';
import { connectDb, type Db } from '../src/store/db.ts';
import { freePort, REDIS_URL, startTestStack, type TestStack } from '../test/support/stack.ts';
import { copiesFor, demoRace, raceStart, registerReplicas, replicatedFixes } from './replicated-race.ts';
import { cleanUp, measuredOn, progressFor, report } from './support.ts';
import { stopChild as stop } from '../test/support/cli.ts';

const { values: args } = parseArgs({
  options: {
    positions: { type: 'string', default: '100000' },
    timeout: { type: 'string', default: '150' },
  },
});
const positions = Number(args.positions);
const timeoutMs = Number(args.timeout) * 1000;
for (const [name, value] of [['--positions', positions], ['--timeout', timeoutMs]] as const) {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}: expected a positive integer`);
}
const SHARDS = 16;
const LEASE_MS = 6000;
const progress = progressFor('sharding');

async function fill(redis: Redis, stream: string, source: Iterable<Position>): Promise<number> {
  let sent = 0;
  let batch = redis.pipeline();
  for (const fix of source) {
    batch.xadd(stream, '*', ...toStreamFields(fix));
    if (++sent % 5000 === 0) {
      await batch.exec();
      batch = redis.pipeline();
    }
  }
  await batch.exec();
  return sent;
}

function instance(stack: TestStack, stream: string, name: string, metricsPort: number): ChildProcess {
  return spawn(join(repoRoot, 'bin/pitwall'), ['processor'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: stack.processorDatabaseUrl,
      REDIS_URL,
      REDIS_TELEMETRY_STREAM: stream,
      DIRECTUS_URL: stack.directusUrl,
      DIRECTUS_TOKEN: stack.processorToken,
      PROCESSOR_CONSUMER: name,
      PROCESSOR_SHARDS: String(SHARDS),
      PROCESSOR_LEASE_MS: String(LEASE_MS),
      PROCESSOR_BLOCK_MS: '200',
      MAX_FUTURE_SKEW_MS: String(2 * 24 * 3_600_000),
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** CPU seconds (user + system) a process and its threads used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function count(db: Db, table: string, devices: string[]): Promise<number> {
  const [row] = await db(table).whereIn('device_id', devices).count<{ count: string }[]>('* as count');
  return Number(row!.count);
}

async function clean(db: Db, devices: string[]): Promise<void> {
  await db('positions').whereIn('device_id', devices).delete();
  await db('decoded_attributes').whereIn('device_id', devices).delete();
  for (const table of ['entry_crossings', 'entry_penalties', 'stage_results', 'anomalies', 'race_events', 'pitwall_pending_events', 'pitwall_outbox']) await db(table).delete();
  await db.raw('CHECKPOINT');
}

/**
 * Runs `n` instances on a filled stream until every fix is stored. Measured from the moment the shards are spread
 * over all `n` (startup and the first rebalance are not throughput), as positions stored per second from then on,
 * with each instance's CPU seconds over the same span.
 */
async function drain(stack: TestStack, db: Db, redis: Redis, stream: string, n: number, devices: string[]): Promise<{ stored: number; seconds: number; cpu: number[]; handled: number[] }> {
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  const owners = () => Promise.all(Array.from({ length: SHARDS }, (_, s) => redis.get(`pitwall:{${stream}:shard:${s}}:owner`)));
  const started = performance.now();
  try {
    for (let i = 0; i < n; i++) {
      ports.push(await freePort());
      children.push(instance(stack, stream, `bench-${n}-${i}`, ports[i]!));
    }
    for (;;) {
      const held = await owners();
      if (held.every(Boolean) && new Set(held).size === n) break;
      if (performance.now() - started > timeoutMs) throw new Error(`shards not spread over ${n} instance(s)`);
      await sleep(20);
    }
    const from = performance.now();
    const storedBefore = await count(db, 'positions', devices);
    // bin/pitwall execs node: the child's pid is the processor's.
    const cpuBefore = children.map((c) => cpuSeconds(c.pid!));
    // The instances' own counters, not a count(*) of positions every 50 ms: that cost Postgres CPU the instances
    // needed, more so the more of them share the machine.
    for (;;) {
      const stored = await metricOf(ports, 'pitwall_positions_stored_total');
      if (stored.reduce((sum, x) => sum + x, 0) >= positions) break;
      if (performance.now() - started > timeoutMs) throw new Error(`${n} instance(s) not done after ${timeoutMs / 1000} s`);
      await sleep(50);
    }
    const seconds = (performance.now() - from) / 1000;
    const cpu = children.map((c, i) => Number((cpuSeconds(c.pid!) - cpuBefore[i]!).toFixed(1)));
    const total = await count(db, 'positions', devices);
    if (total !== positions) throw new Error(`${n} instance(s) stored ${total} positions of ${positions}`);
    // The load spread: stream entries each instance handled, from its own metrics.
    const handled = await metricOf(ports, 'pitwall_stream_entries_total');
    return { stored: positions - storedBefore, seconds, cpu, handled };
  } finally {
    await Promise.all(children.map((c) => stop(c, 'SIGTERM')));
    const keys = await redis.keys(`pitwall:{${stream}*`);
    await redis.del(stream, `${stream}:dead-letter`, ...keys);
  }
}

/** A counter of each instance, from its /metrics. */
function metricOf(ports: readonly number[], name: string): Promise<number[]> {
  const line = new RegExp(`^${name} (\\S+)$`, 'm');
  return Promise.all(
    ports.map(async (port) => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return Number(line.exec(text)?.[1] ?? NaN);
    }),
  );
}

/** Order violations: along each tracker's fixes by GPS time, one stored (ingested) before an earlier one. */
async function orderViolations(db: Db, devices: string[]): Promise<number> {
  const { rows } = (await db.raw(
    `SELECT count(*) AS violations FROM (
       SELECT ingested_at < lag(ingested_at) OVER (PARTITION BY device_id ORDER BY ts) AS violation
         FROM positions WHERE device_id = ANY(?)) v
      WHERE violation`,
    [devices],
  )) as { rows: { violations: string }[] };
  return Number(rows[0]!.violations);
}

/** Two instances, fixes arriving; one is SIGKILLed: seconds until the survivor holds every shard. */
async function failover(stack: TestStack, redis: Redis, source: () => Iterable<Position>): Promise<number> {
  const stream = `bench:telemetry:${randomUUID()}`;
  const owner = (shard: number) => `pitwall:{${stream}:shard:${shard}}:owner`;
  const owners = () => Promise.all(Array.from({ length: SHARDS }, (_, s) => redis.get(owner(s))));
  const a = instance(stack, stream, 'failover-a', await freePort());
  const b = instance(stack, stream, 'failover-b', await freePort());
  try {
    for (let waited = 0; new Set((await owners()).filter(Boolean)).size < 2; waited += 100) {
      if (waited > 30_000) throw new Error('shards were not spread over two instances');
      await sleep(100);
    }
    // Fixes keep arriving while the instance dies.
    const feeding = (async () => {
      let sent = 0;
      for (const fix of source()) {
        await redis.xadd(stream, '*', ...toStreamFields(fix));
        if (++sent % 200 === 0) await sleep(20);
        if (sent >= 20_000) break;
      }
    })();
    await sleep(1000);
    await stop(b, 'SIGKILL');
    const killedAt = performance.now();
    for (;;) {
      if ((await owners()).every((o) => o === 'failover-a')) break;
      if (performance.now() - killedAt > 60_000) throw new Error('the killed instance\'s shards were not taken over');
      await sleep(50);
    }
    const seconds = (performance.now() - killedAt) / 1000;
    await feeding;
    return seconds;
  } finally {
    await Promise.all([stop(a, 'SIGTERM'), stop(b, 'SIGKILL')]);
    const keys = await redis.keys(`pitwall:{${stream}*`);
    await redis.del(stream, `${stream}:dead-letter`, ...keys);
  }
}

async function main(): Promise<Record<string, unknown>> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  let db: Db | null = null;
  let stopStack: (() => Promise<void>) | null = null;
  try {
    const running = await startTestStack(11);
    stopStack = running.stop;
    const { stack } = running;
    db = connectDb(stack.databaseUrl, { pool: 2 });
    const start = await raceStart(db);
    const race = demoRace(start);
    const devices = await registerReplicas(stack, copiesFor(positions, race.length));
    const source = () => replicatedFixes(race, positions);
    const replicas = [...new Set([...source()].map((p) => p.deviceId))];
    progress(`stack ready: ${replicas.length} raced trackers of ${devices.length} registered`);

    const results: Record<number, { stored: number; seconds: number; cpu: number[]; handled: number[] }> = {};
    let violations = 0;
    for (const n of [1, 2]) {
      await clean(db, replicas);
      const stream = `bench:telemetry:${randomUUID()}`;
      await fill(redis, stream, source());
      results[n] = await drain(stack, db, redis, stream, n, replicas);
      if (n === 2) violations = await orderViolations(db, replicas);
      progress(`${n} instance(s): ${results[n]!.stored} positions in ${results[n]!.seconds.toFixed(2)} s once spread, CPU ${results[n]!.cpu.join(' + ')} s`);
    }
    await clean(db, replicas);
    const failoverSeconds = await failover(stack, redis, source);
    progress(`failover: the killed instance's shards held by the survivor after ${failoverSeconds.toFixed(2)} s`);
    await clean(db, replicas);

    const single = results[1]!.stored / results[1]!.seconds;
    const double = results[2]!.stored / results[2]!.seconds;
    return {
      bench: 'sharding',
      instances: 2,
      positions,
      positions_per_s: Math.round(double),
      single_instance_positions_per_s: Math.round(single),
      ratio: Number((double / single).toFixed(3)),
      order_violations: violations,
      failover_s: Number(failoverSeconds.toFixed(2)),
      cpu_s_per_instance: results[2]!.cpu,
      entries_per_instance: results[2]!.handled,
      single_instance_cpu_s: results[1]!.cpu[0],
      shards: SHARDS,
      lease_ms: LEASE_MS,
      ...(await measuredOn(db, redis)),
      date: new Date().toISOString(),
    };
  } finally {
    await cleanUp([
      ['close redis', () => redis.quit()],
      ['close postgres', async () => db?.destroy()],
      ['stop Directus and drop its database', async () => stopStack?.()],
    ], progress);
  }
}

report(main(), progress);
