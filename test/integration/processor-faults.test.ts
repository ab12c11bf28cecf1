import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import { repoRoot } from '../../src/devstack/directus-process.ts';
import { publishFixes } from '../../src/simulator/publish.ts';
import { simulateRace } from '../../src/simulator/race-schedule.ts';
import { groupInfo } from '../../src/stream/consumer-group.ts';
import { PROCESSOR_GROUP } from '../../src/processor/config.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { startRacingProcessor } from '../support/racing-processor.ts';
import { freePort, REDIS_URL } from '../support/stack.ts';
import { PrivateRedis } from '../support/private-redis.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { waitFor } from '../support/wait-for.ts';
import { stopChild as kill } from '../support/cli.ts';

const stack = inject('stack');
const stageId = demoId('stage:ss2');
const ENTRIES = 4;

/** Runs `pitwall processor` as its own process, as in production, so it can be killed for real. */
async function processorProcess(stream: string, directusUrl: string, env: Record<string, string> = {}): Promise<ChildProcess & { metricsPort: number }> {
  const metricsPort = await freePort();
  const child = spawn(join(repoRoot, 'bin/pitwall'), ['processor'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: stack.databaseUrl,
      REDIS_URL,
      REDIS_TELEMETRY_STREAM: stream,
      DIRECTUS_URL: directusUrl,
      DIRECTUS_TOKEN: stack.processorToken,
      PROCESSOR_CONSUMER: 'faults-1',
      PROCESSOR_BATCH_SIZE: '200',
      // The race is placed at fixed hours of today's stage, possibly ahead of the clock (see racing-processor.ts).
      MAX_FUTURE_SKEW_MS: String(2 * 24 * 3_600_000),
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return Object.assign(child, { metricsPort });
}

describe('the processor under faults', () => {
  let redis: Redis;
  let db: Knex;
  let token: string;
  const children: ChildProcess[] = [];
  const streams: string[] = [];
  const devices = demoEntries.slice(0, ENTRIES).map((e) => e.imei);

  const count = async (table: string, where: (q: Knex.QueryBuilder) => Knex.QueryBuilder) => Number((await where(db(table)).count<{ count: string }[]>('* as count'))[0]!.count);
  const crossings = async () => (await call(stack, `/items/entry_crossings?filter[stage][_eq]=${stageId}&fields=entry,kind,crossed_at&limit=-1`, { token })).json.data as { entry: string; kind: string }[];

  async function race(seed: number) {
    const [stage] = (await call(stack, `/items/stages?filter[id][_eq]=${stageId}&fields=opens_at`, { token })).json.data;
    return simulateRace({ start: Date.parse(stage.opens_at) + 2 * 3_600_000 + seed * 600_000, entries: ENTRIES, stages: ['ss2'], seed });
  }

  /** A telemetry stream of the test's own, deleted with its dead letters after it. */
  const newStream = () => {
    const stream = `test:telemetry:${randomUUID()}`;
    streams.push(stream, `${stream}:dead-letter`);
    return stream;
  };

  /** `count` fixes of the first car from 8 s before its start line, dated one a second from `from`. */
  async function oneCar(seed: number, count: number, from: number) {
    const driven = (await race(seed)).filter((fix) => fix.deviceId === devices[0]).slice(25, 25 + count);
    return driven.map((fix, i) => ({ ...fix, ts: from + i * 1000 }));
  }

  async function cleanBusinessRows() {
    await db('positions').whereIn('device_id', devices).delete();
    await db('decoded_attributes').whereIn('device_id', devices).delete();
    for (const collection of ['entry_crossings', 'entry_penalties', 'stage_results', 'anomalies', 'race_events', 'pitwall_pending_events']) await db(collection).delete();
    await db('pitwall_outbox').delete();
  }

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    token = await adminToken(stack);
    await cleanBusinessRows();
  });

  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => kill(c, 'SIGKILL')));
    if (streams.length) await redis.del(...streams.splice(0));
    await cleanBusinessRows();
  });

  afterAll(async () => {
    redis.disconnect();
    await db.destroy();
  });

  it('killed with SIGKILL mid-stream and restarted, loses and duplicates nothing', async () => {
    const stream = newStream();
    const fixes = await race(1);
    const first = await processorProcess(stream, stack.directusUrl);
    children.push(first);
    // Paced, so the kill lands while entries are still arriving and batches are in flight.
    const publishing = publishFixes(redis, stream, fixes, { speed: 400 });
    await waitFor(async () => (await count('positions', (q) => q.whereIn('device_id', devices))) > fixes.length / 3, { timeoutMs: 60_000, what: 'a third of the positions' });
    await kill(first, 'SIGKILL');
    await publishing;
    const second = await processorProcess(stream, stack.directusUrl);
    children.push(second);

    await waitFor(async () => (await count('positions', (q) => q.whereIn('device_id', devices))) === fixes.length, { timeoutMs: 60_000, what: 'every position' });
    await waitFor(async () => (await crossings()).length === ENTRIES * 2 && (await count('pitwall_outbox', (q) => q)) === 0, { timeoutMs: 60_000, what: 'start and finish of every entry' });
    const all = await crossings();
    for (const entry of demoEntries.slice(0, ENTRIES)) {
      expect(all.filter((c) => c.entry === entry.id).map((c) => c.kind).sort()).toEqual(['finish', 'start']);
    }
    const info = (await redis.xinfo('GROUPS', stream)) as unknown[][];
    expect(info[0]).toEqual(expect.arrayContaining(['pending', 0]));
  });

  it('with Directus unreachable for a minute, keeps storing positions and delivers every fact afterwards', async () => {
    const stream = newStream();
    const proxy = new TcpProxy(Number(new URL(stack.directusUrl).port));
    await proxy.start(await freePort());
    const fixes = await race(2);
    const child = await processorProcess(stream, `http://127.0.0.1:${proxy.port}`);
    children.push(child);
    await proxy.stop();
    const downSince = Date.now();
    await publishFixes(redis, stream, fixes, { speed: 0 });

    await waitFor(async () => (await count('positions', (q) => q.whereIn('device_id', devices))) === fixes.length, { timeoutMs: 30_000, what: 'positions while Directus is down' });
    expect(await crossings()).toEqual([]);
    const waiting = await count('pitwall_outbox', (q) => q);
    expect(waiting).toBeGreaterThan(0);
    // Healthy, and saying how much waits for Directus.
    const health = await (await fetch(`http://127.0.0.1:${child.metricsPort}/healthz`)).json();
    expect(health).toMatchObject({ ok: true, outbox: waiting });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 60_000 - (Date.now() - downSince))));
    await proxy.resume();

    await waitFor(async () => (await count('pitwall_outbox', (q) => q)) === 0, { timeoutMs: 60_000, what: 'the outbox to drain' });
    const all = await crossings();
    expect(all).toHaveLength(ENTRIES * 2);
    const results = (await call(stack, `/items/stage_results?filter[stage][_eq]=${stageId}&fields=status,rank&limit=-1`, { token })).json.data;
    expect(results.map((r: { rank: number }) => r.rank).sort()).toEqual([1, 2, 3, 4]);
    await proxy.stop();
  }, 180_000);

  it('with Redis restarted empty mid-race, goes on with what the trackers send after it, timing nothing twice', async () => {
    // This machine's Redis keeps nothing on disk: a restart loses the stream, the groups, the shard leases and the
    // committed progress, and the processor must carry on with what comes after it. Its own Redis, to restart.
    const privateRedis = await PrivateRedis.start();
    const own = new Redis(privateRedis.url, { maxRetriesPerRequest: null });
    own.on('error', () => undefined);
    const stream = `test:telemetry:${randomUUID()}`;
    const fixes = await race(4);
    const firstHalf = fixes.filter((fix) => fix.ts < fixes[Math.floor(fixes.length / 2)]!.ts);
    const secondHalf = fixes.slice(firstHalf.length);
    // A short lease beside the default blocking read (1 s): renewals must not wait behind the reads.
    const processor = await startRacingProcessor(stack, stream, { REDIS_URL: privateRedis.url, PROCESSOR_CONSUMER: 'restarted-redis', PROCESSOR_BATCH_SIZE: '100', PROCESSOR_LEASE_MS: '2000' });
    const stored = () => count('positions', (q) => q.whereIn('device_id', devices));
    try {
      await publishFixes(own, stream, firstHalf, { speed: 0 });
      await waitFor(async () => (await stored()) === firstHalf.length, { timeoutMs: 60_000, what: 'the first half stored' });
      await privateRedis.restart(1000);
      await publishFixes(own, stream, secondHalf, { speed: 0 });

      await waitFor(async () => (await stored()) === fixes.length, { timeoutMs: 60_000, what: 'the second half stored after the restart' });
      await waitFor(async () => (await crossings()).length === ENTRIES * 2 && (await count('pitwall_outbox', (q) => q)) === 0, { timeoutMs: 60_000, what: 'start and finish of every entry' });
      for (const entry of demoEntries.slice(0, ENTRIES)) {
        expect((await crossings()).filter((c) => c.entry === entry.id).map((c) => c.kind).sort()).toEqual(['finish', 'start']);
      }
      const results = await db('stage_results').where({ stage: stageId }).select('status', 'rank');
      expect(results.map((r) => [r.status, r.rank]).sort()).toEqual([['finished', 1], ['finished', 2], ['finished', 3], ['finished', 4]]);
      // Each change announced once: a rebuilt tracker does not re-time what it stored before the restart.
      const events = await db('race_events').whereIn('entry', demoEntries.slice(0, ENTRIES).map((e) => e.id)).select('type', 'entry', 'payload');
      const keys = events.map((e) => `${e.type} ${e.entry} ${JSON.stringify(e.payload)}`);
      expect(keys.filter((key, i) => keys.indexOf(key) !== i)).toEqual([]);
      // The group is there again, at the stream's end, so its lag reads right.
      await waitFor(async () => (await groupInfo(own, stream, PROCESSOR_GROUP))?.lag === 0, { timeoutMs: 15_000, what: 'group processor again, caught up' });
      // Timed: the four driven trackers, rebuilt after the restart, and the silent rest of the demo's, whose stage is open.
      expect(processor.racedDevices).toBe(demoEntries.length);
    } finally {
      await processor.close();
      own.disconnect();
      await privateRedis.remove();
    }
  }, 180_000);

  it('with Postgres unreachable for 10 s mid-race (connections cut), stores and times every fix once', async () => {
    // As a Postgres restart looks to the processor: its open connections cut, new ones refused, then all back.
    const proxy = new TcpProxy(5432);
    await proxy.start(await freePort());
    const viaProxy = new URL(stack.processorDatabaseUrl);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    viaProxy.searchParams.delete('host');
    const stream = newStream();
    const fixes = await race(5);
    const processor = await startRacingProcessor(stack, stream, { DATABASE_URL: viaProxy.toString(), PROCESSOR_BATCH_SIZE: '50' });
    const stored = () => count('positions', (q) => q.whereIn('device_id', devices));
    try {
      const publishing = publishFixes(redis, stream, fixes, { speed: 400 });
      await waitFor(async () => (await stored()) > fixes.length / 3, { timeoutMs: 60_000, what: 'a third of the positions' });
      await proxy.stop();
      expect(proxy.cutPorts.length).toBeGreaterThan(0);
      // A COMMIT already on its way when the connections were cut still lands: count once Postgres has let go of them.
      await waitFor(async () => (await db.raw("select count(*)::int as n from pg_stat_activity where client_port = any(string_to_array(?, ',')::int[])", [proxy.cutPorts.join(',')])).rows[0].n === 0, { timeoutMs: 10_000, what: 'the cut connections gone from Postgres' });
      const storedWhileDown = await stored();
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      expect(await stored()).toBe(storedWhileDown);
      await proxy.resume();
      await publishing;

      await waitFor(async () => (await stored()) === fixes.length, { timeoutMs: 60_000, what: 'every position once Postgres is back' });
      await waitFor(async () => (await crossings()).length === ENTRIES * 2 && (await count('pitwall_outbox', (q) => q)) === 0, { timeoutMs: 60_000, what: 'start and finish of every entry' });
      for (const entry of demoEntries.slice(0, ENTRIES)) {
        expect((await crossings()).filter((c) => c.entry === entry.id).map((c) => c.kind).sort()).toEqual(['finish', 'start']);
      }
      const results = await db('stage_results').where({ stage: stageId }).select('status', 'rank');
      expect(results.map((r) => [r.status, r.rank]).sort()).toEqual([['finished', 1], ['finished', 2], ['finished', 3], ['finished', 4]]);
      const events = await db('race_events').whereIn('entry', demoEntries.slice(0, ENTRIES).map((e) => e.id)).select('type', 'entry', 'payload');
      const keys = events.map((e) => `${e.type} ${e.entry} ${JSON.stringify(e.payload)}`);
      expect(keys.filter((key, i) => keys.indexOf(key) !== i)).toEqual([]);
      expect(await count('anomalies', (q) => q.whereIn('device_id', devices).andWhere({ kind: 'late_data' }))).toBe(0);
      expect((await processor.health()).ok).toBe(true);
    } finally {
      await processor.close();
      await proxy.stop();
    }
  }, 180_000);

  it('stopped (SIGSTOP) while a car drives, announces no signal loss for the fixes waiting in the stream', async () => {
    // Live fixes, timed by the clock: a tracker is silent when its fixes stop coming, not when this process stops
    // reading them. After SIGCONT the overdue tick runs before the reads of what came meanwhile.
    const stream = newStream();
    const [device] = devices;
    // From 8 s before its start line, for 30 s.
    const live = await oneCar(6, 30, Date.now() + 1000);
    const child = await processorProcess(stream, stack.directusUrl, { SIGNAL_LOSS_MS: '2500', PROCESSOR_TICK_MS: '100', PROCESSOR_BATCH_SIZE: '50' });
    children.push(child);
    const startCrossing = async () => (await crossings()).some((c) => c.kind === 'start');
    const publishing = publishFixes(redis, stream, live, { speed: 1 });
    await waitFor(startCrossing, { timeoutMs: 30_000, what: 'the start crossing of the live car' });
    child.kill('SIGSTOP');
    await new Promise((resolve) => setTimeout(resolve, 5000));
    child.kill('SIGCONT');
    await publishing;

    await waitFor(async () => (await count('positions', (q) => q.where({ device_id: device }))) === live.length, { timeoutMs: 30_000, what: 'every live fix stored' });
    // Past the signal-loss time after the last fix: a real silence now opens one, and only that.
    const losses = () => db('anomalies').where({ device_id: device, kind: 'signal_loss' }).pluck('started_at');
    await waitFor(async () => (await losses()).length > 0, { timeoutMs: 15_000, what: 'the signal loss after the last fix' });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const [last] = await db('positions').where({ device_id: device }).max('ts as ts');
    expect((await losses()).map((at: Date) => at.getTime())).toEqual([last!.ts.getTime()]);
  }, 120_000);

  it('announces no signal loss for a tracker uploading fixes dated minutes ago while they come, one after they stop', async () => {
    // A tracker back in coverage sends its buffered fixes: GPS times 10 minutes behind the clock, one a second.
    const stream = newStream();
    const [device] = devices;
    const buffered = await oneCar(9, 15, Date.now() - 600_000);
    children.push(await processorProcess(stream, stack.directusUrl, { SIGNAL_LOSS_MS: '3000', PROCESSOR_TICK_MS: '100' }));
    await publishFixes(redis, stream, buffered, { speed: 1 });
    await waitFor(async () => (await count('positions', (q) => q.where({ device_id: device }))) === buffered.length, { timeoutMs: 30_000, what: 'every fix stored' });
    expect((await crossings()).map((c) => c.kind)).toEqual(['start']);
    const announced = () => db('race_events').where({ type: 'anomaly.detected', device_id: device }).pluck('payload');
    await waitFor(async () => (await announced()).length > 0, { timeoutMs: 15_000, what: 'the signal loss after the last fix' });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // One announcement, of the silence that followed the last fix, and it stands.
    expect((await announced()).map((p: { kind: string; started_at: string }) => [p.kind, Date.parse(p.started_at)])).toEqual([['signal_loss', buffered.at(-1)!.ts]]);
    expect(await db('anomalies').where({ device_id: device, kind: 'signal_loss' }).count('* as n')).toEqual([{ n: '1' }]);
  }, 120_000);

  it('reports no late data for packets a tracker resends minutes after they were stored', async () => {
    // A tracker resends a packet whose acknowledgement was lost. Resent past the late window, the stored fix raised a
    // late-data warning and its race event, though nothing was late.
    const stream = newStream();
    const [device] = devices;
    const fixes = await oneCar(11, 20, Date.now() - 600_000);
    children.push(await processorProcess(stream, stack.directusUrl, { LATE_WINDOW_MS: '5000', PROCESSOR_TICK_MS: '100' }));
    await publishFixes(redis, stream, fixes, { speed: 0 });
    await waitFor(async () => (await count('positions', (q) => q.where({ device_id: device }))) === fixes.length, { timeoutMs: 30_000, what: 'every fix stored' });
    await publishFixes(redis, stream, fixes.slice(0, 5), { speed: 0 });
    const [last] = (await redis.xrevrange(stream, '+', '-', 'COUNT', 1)) as [string, string[]][];
    await waitFor(async () => (await groupInfo(redis, stream, PROCESSOR_GROUP))?.lastDeliveredId === last![0] && (await count('pitwall_outbox', (q) => q)) === 0, { timeoutMs: 20_000, what: 'the resent packets read' });
    const late = () => db('anomalies').where({ device_id: device, kind: 'late_data' }).pluck('details');
    expect(await late()).toEqual([]);
    // A fix truly late, never stored, is still reported.
    await publishFixes(redis, stream, [{ ...fixes[2]!, ts: fixes[2]!.ts + 1 }], { speed: 0 });
    await waitFor(async () => (await count('positions', (q) => q.where({ device_id: device }))) === fixes.length + 1, { timeoutMs: 20_000, what: 'the late fix stored' });
    await waitFor(async () => (await late()).length > 0, { timeoutMs: 20_000, what: 'the late fix reported' });
    expect(await late()).toEqual([expect.objectContaining({ fixes: 1, reevaluated: false })]);
  }, 120_000);

  it('announces a burst of late fixes that come one by one twice: as it begins and with its count when it ends', async () => {
    // A tracker's second buffer comes after its live fixes: old fixes, one every 200 ms, each in a read of its own.
    // Each change of a fact is a race event; one per late fix sent Flows and webhooks hundreds for one burst.
    const stream = newStream();
    const [device] = devices;
    const fixes = await oneCar(10, 30, Date.now() - 600_000);
    children.push(await processorProcess(stream, stack.directusUrl, { LATE_WINDOW_MS: '5000', PROCESSOR_TICK_MS: '100' }));
    await publishFixes(redis, stream, fixes.slice(10), { speed: 0 });
    const late = fixes.slice(0, 10);
    await publishFixes(redis, stream, late, { speed: 5 });
    await waitFor(async () => (await count('positions', (q) => q.where({ device_id: device }))) === fixes.length, { timeoutMs: 30_000, what: 'every fix stored' });
    const announced = () => db('race_events').where({ type: 'anomaly.detected', device_id: device }).pluck('payload');
    const lateAnnounced = async () => ((await announced()) as { kind: string; details: { fixes: number } }[]).filter((p) => p.kind === 'late_data').map((p) => p.details.fixes).sort((a, b) => a - b);
    await waitFor(async () => (await lateAnnounced()).includes(late.length), { timeoutMs: 20_000, what: 'the burst announced with its count' });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await lateAnnounced()).toEqual([1, late.length]);
    const [stored] = await db('anomalies').where({ device_id: device, kind: 'late_data' }).select('details');
    expect(stored.details).toMatchObject({ fixes: late.length, reevaluated: false });
  }, 120_000);

  it('restarted while a car that started its stage is silent, opens its signal loss without waiting for a fix', async () => {
    // A stopped car sends nothing more: the restarted process must rebuild its tracker from what is stored to see the
    // silence, not wait for a fix that will not come.
    const stream = newStream();
    const [device] = devices;
    // From 8 s before its start line, for 15 s, then silence.
    const live = await oneCar(8, 15, Date.now() + 1000);
    const env = { SIGNAL_LOSS_MS: '5000', PROCESSOR_TICK_MS: '200' };
    const first = await processorProcess(stream, stack.directusUrl, env);
    children.push(first);
    await publishFixes(redis, stream, live, { speed: 1 });
    await waitFor(async () => (await count('positions', (q) => q.where({ device_id: device }))) === live.length, { timeoutMs: 30_000, what: 'every live fix stored' });
    await waitFor(async () => (await crossings()).some((c) => c.kind === 'start'), { timeoutMs: 10_000, what: 'the start crossing' });
    await kill(first, 'SIGKILL');
    const losses = () => db('anomalies').where({ device_id: device, kind: 'signal_loss' }).pluck('started_at');
    expect(await losses()).toEqual([]);

    children.push(await processorProcess(stream, stack.directusUrl, env));
    await waitFor(async () => (await losses()).length > 0, { timeoutMs: 20_000, what: 'the signal loss of the silent car' });
    const [last] = await db('positions').where({ device_id: device }).max('ts as ts');
    expect((await losses()).map((at: Date) => at.getTime())).toEqual([last!.ts.getTime()]);
  }, 120_000);

  it('restarted after fixes too late to be timed were stored, times the line from them once: one start, not two', async () => {
    // Live, the start is interpolated across the fixes the tracker sent late (older than the late window: stored, not
    // timed); rebuilt after the restart, the tracker times it from them. The stored start must give way, not stay beside.
    const stream = newStream();
    const [device] = devices;
    const entry = demoEntries[0]!.id;
    const fixes = await oneCar(8, 20, Date.now() - 25_000);
    const env = { LATE_WINDOW_MS: '3000', PROCESSOR_TICK_MS: '200' };
    const first = await processorProcess(stream, stack.directusUrl, env);
    children.push(first);
    const withheld = fixes.slice(5, 10);
    await publishFixes(redis, stream, fixes.filter((fix) => !withheld.includes(fix)), { speed: 1 });
    await waitFor(async () => (await count('positions', (q) => q.where({ device_id: device }))) === fixes.length - withheld.length, { timeoutMs: 30_000, what: 'the live fixes stored' });
    await publishFixes(redis, stream, withheld, { speed: 1 });
    await waitFor(async () => (await count('positions', (q) => q.where({ device_id: device }))) === fixes.length, { timeoutMs: 30_000, what: 'the late fixes stored' });
    const starts = async () => ((await crossings()) as { entry: string; kind: string; crossed_at: string }[]).filter((c) => c.entry === entry && c.kind === 'start').map((c) => c.crossed_at);
    await waitFor(async () => (await starts()).length === 1, { timeoutMs: 10_000, what: 'the live start' });
    const [live] = await starts();
    await kill(first, 'SIGTERM');

    children.push(await processorProcess(stream, stack.directusUrl, env));
    await waitFor(async () => (await starts()).some((at) => at !== live), { timeoutMs: 20_000, what: 'the start timed again from the stored fixes' });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await starts()).toHaveLength(1);
    expect(await count('race_events', (q) => q.where({ type: 'timing.crossing.recorded', entry }))).toBe(2);
  }, 120_000);

  it('stopped (SIGSTOP) until another instance took its shards and finished the stage, sends nothing stale when resumed', async () => {
    const stream = newStream();
    const fixes = await race(7);
    const half = fixes.filter((fix) => fix.ts < fixes[Math.floor(fixes.length / 2)]!.ts);
    const lease = { PROCESSOR_LEASE_MS: '2000', PROCESSOR_BLOCK_MS: '200' };
    const stored = () => count('positions', (q) => q.whereIn('device_id', devices));
    const results = () => db('stage_results').where({ stage: stageId }).orderBy('entry').select('entry', 'status', 'total_ms', 'rank');
    const eventIds = () => db('race_events').whereIn('entry', demoEntries.slice(0, ENTRIES).map((e) => e.id)).orderBy('id').pluck('id');

    const first = await processorProcess(stream, stack.directusUrl, { ...lease, PROCESSOR_CONSUMER: 'paused', PROCESSOR_BATCH_SIZE: '20' });
    children.push(first);
    await publishFixes(redis, stream, half, { speed: 0 });
    await waitFor(async () => (await stored()) === half.length, { timeoutMs: 60_000, what: 'the first half stored by the first instance' });
    first.kill('SIGSTOP');
    // Its leases run out; the second instance takes every shard, rebuilds the trackers and times the rest.
    const second = await processorProcess(stream, stack.directusUrl, { ...lease, PROCESSOR_CONSUMER: 'taker', PROCESSOR_BATCH_SIZE: '2000' });
    children.push(second);
    await publishFixes(redis, stream, fixes.slice(half.length), { speed: 0 });
    await waitFor(async () => (await results()).filter((r) => r.status === 'finished' && r.rank !== null).length === ENTRIES && (await count('pitwall_outbox', (q) => q)) === 0, { timeoutMs: 60_000, what: 'the stage timed by the second instance' });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const timed = { results: await results(), events: await eventIds() };

    // Resumed, the first instance has the second half waiting in its read, with its state of the first half.
    first.kill('SIGCONT');
    await new Promise((resolve) => setTimeout(resolve, 5000));
    await waitFor(async () => (await count('pitwall_outbox', (q) => q)) === 0, { timeoutMs: 30_000, what: 'the outbox delivered' });
    expect(await results()).toEqual(timed.results);
    expect(await eventIds()).toEqual(timed.events);
  }, 180_000);

  it('taken over after storing a batch it had not committed, by a holder reading shorter batches, times nothing twice', async () => {
    const stream = newStream();
    const fixes = await race(3);
    await publishFixes(redis, stream, fixes, { speed: 0 });
    const results = async () => (await db('stage_results').where({ stage: stageId }).orderBy('entry').select('entry', 'status', 'total_ms', 'rank'));
    const eventIds = async () => (await db('race_events').whereIn('device_id', devices).orWhereIn('entry', demoEntries.slice(0, ENTRIES).map((e) => e.id)).orderBy('id').pluck('id'));
    const caughtUp = async () => {
      const [last] = (await redis.xrevrange(stream, '+', '-', 'COUNT', 1)) as [string, string[]][];
      return (await groupInfo(redis, stream, PROCESSOR_GROUP))?.lastDeliveredId === last![0] && (await count('pitwall_outbox', (q) => q)) === 0;
    };

    // The first holder times the whole stage in large batches.
    const first = await startRacingProcessor(stack, stream, { PROCESSOR_CONSUMER: 'holder-1', PROCESSOR_BATCH_SIZE: '2000' });
    try {
      await waitFor(async () => (await results()).filter((r) => r.status === 'finished' && r.rank !== null).length === ENTRIES && (await caughtUp()), { timeoutMs: 60_000, what: 'the stage timed by the first holder' });
      // Results are written by the courier in turns: give it a moment to pass its last one.
      await new Promise((resolve) => setTimeout(resolve, 1500));
    } finally {
      await first.close();
    }
    const timed = { results: await results(), events: await eventIds() };

    // As if it had been stopped after storing everything but before committing any progress: the next holder reads
    // the stream again from its start, in batches that end where the first holder's did not.
    for (const key of await redis.keys(`pitwall:{${stream}*`)) await redis.del(key);
    await redis.xgroup('DESTROY', stream, PROCESSOR_GROUP);
    await redis.xgroup('CREATE', stream, PROCESSOR_GROUP, '0');
    const second = await startRacingProcessor(stack, stream, { PROCESSOR_CONSUMER: 'holder-2', PROCESSOR_BATCH_SIZE: '25' });
    try {
      await waitFor(caughtUp, { timeoutMs: 60_000, what: 'the second holder through the stream' });
      await new Promise((resolve) => setTimeout(resolve, 1500));
    } finally {
      await second.close();
    }

    // No result turned back to running on the way, so no race event announced it or the finish again.
    expect(await results()).toEqual(timed.results);
    expect(await eventIds()).toEqual(timed.events);
    expect(await count('anomalies', (q) => q.whereIn('device_id', devices).andWhere({ kind: 'late_data' }))).toBe(0);
    expect(await count('positions', (q) => q.whereIn('device_id', devices))).toBe(fixes.length);
  }, 180_000);
});
