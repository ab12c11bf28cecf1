import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import { repoRoot } from '../../src/devstack/directus-process.ts';
import { publishFixes, toStreamFields } from '../../src/simulator/publish.ts';
import { shardOf } from '../../src/domain/sharding/shard-of.ts';
import { simulateRace } from '../../src/simulator/race-schedule.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { freePort, REDIS_URL } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';
import { stopChild as kill } from '../support/cli.ts';

const stack = inject('stack');
const stageId = demoId('stage:ss2');
const ENTRIES = 8;
const SHARDS = 8;
const LEASE_MS = 3000;

/** One `pitwall processor` process of a sharded group, killable for real. */
async function instance(stream: string, name: string, env: Record<string, string> = {}): Promise<ChildProcess> {
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
      PROCESSOR_REBALANCE_MS: '500',
      PROCESSOR_BATCH_SIZE: '100',
      MAX_FUTURE_SKEW_MS: String(2 * 24 * 3_600_000),
      // The race is dated from the demo stage's opening, which is hours in the past or in the future depending on
      // when the test runs; signal loss is judged against the wall clock at each tick, so with past fixes it would
      // depend on where each tick falls between batches, and no two runs would agree on it.
      SIGNAL_LOSS_MS: String(7 * 24 * 3_600_000),
      // Each batch's facts at once, as live: paced (a backlog), a fact's passing states merge into the last one before
      // they are sent, and which merge depends on when each instance reads, not on how the trackers are sharded.
      PROCESSOR_BACKLOG_FACTS_MS: '0',
      METRICS_PORT: String(await freePort()),
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

describe('several processor instances, sharded by device', () => {
  let redis: Redis;
  let db: Knex;
  let token: string;
  const children: ChildProcess[] = [];
  const streams: string[] = [];
  const devices = demoEntries.slice(0, ENTRIES).map((e) => e.imei);
  const entries = demoEntries.slice(0, ENTRIES).map((e) => e.id);

  const positions = async () => Number((await db('positions').whereIn('device_id', devices).count<{ count: string }[]>('* as count'))[0]!.count);
  const outbox = async () => Number((await db('pitwall_outbox').count<{ count: string }[]>('* as count'))[0]!.count);
  const owners = async (stream: string) => {
    const values = await Promise.all(Array.from({ length: SHARDS }, (_, s) => redis.get(`pitwall:{${stream}:shard:${s}}:owner`)));
    return values;
  };

  /** What timing produced, comparable between runs: crossings, results, and the race events of the stage. */
  async function outputs() {
    const crossings = (await call(stack, `/items/entry_crossings?filter[stage][_eq]=${stageId}&fields=entry,kind,crossed_at,geofence&sort=entry,crossed_at&limit=-1`, { token })).json.data;
    const results = (await db('stage_results').where({ stage: stageId }).whereIn('entry', entries).orderBy('entry').select('entry', 'status', 'elapsed_ms', 'penalty_ms', 'total_ms', 'rank'));
    const events = (await db('race_events').whereIn('entry', entries).select('type', 'entry', 'payload')) as { type: string; entry: string; payload: unknown }[];
    const eventKeys = events.map((e) => `${e.type}|${e.entry}|${JSON.stringify(e.payload)}`).sort();
    return { crossings, results, eventKeys };
  }

  async function cleanBusinessRows() {
    await db('positions').whereIn('device_id', devices).delete();
    await db('decoded_attributes').whereIn('device_id', devices).delete();
    for (const collection of ['entry_crossings', 'entry_penalties', 'stage_results', 'anomalies', 'race_events', 'pitwall_pending_events']) await db(collection).delete();
    await db('pitwall_outbox').delete();
  }

  async function fixesOfRace() {
    const [stage] = (await call(stack, `/items/stages?filter[id][_eq]=${stageId}&fields=opens_at`, { token })).json.data;
    return simulateRace({ start: Date.parse(stage.opens_at) + 5 * 3_600_000, entries: ENTRIES, stages: ['ss2'], seed: 7 });
  }

  async function settled(fixes: number) {
    await waitFor(async () => (await positions()) === fixes, { timeoutMs: 90_000, what: 'every position' });
    await waitFor(async () => {
      const { crossings } = await outputs();
      return crossings.length === ENTRIES * 2 && (await outbox()) === 0;
    }, { timeoutMs: 90_000, what: 'start and finish of every entry, outbox drained' });
    // Results are written by the courier in turns: give it a moment to pass its last one.
    await new Promise((resolve) => setTimeout(resolve, 1500));
  }

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    token = await adminToken(stack);
    await cleanBusinessRows();
  });

  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => kill(c, 'SIGKILL')));
    for (const stream of streams.splice(0)) {
      const keys = await redis.keys(`pitwall:{${stream}*`);
      await redis.del(stream, `${stream}:dead-letter`, ...keys);
    }
    await cleanBusinessRows();
  });

  afterAll(async () => {
    redis.disconnect();
    await db.destroy();
  });

  it('three instances, one killed mid-stream and a fourth joining, time every device in order, as one instance does', async () => {
    const fixes = await fixesOfRace();

    // The reference: one instance.
    const single = `test:telemetry:${randomUUID()}`;
    streams.push(single);
    children.push(await instance(single, 'solo'));
    await publishFixes(redis, single, fixes, { speed: 0 });
    await settled(fixes.length);
    const expected = await outputs();
    expect(expected.results).toHaveLength(ENTRIES);
    await Promise.all(children.splice(0).map((c) => kill(c, 'SIGTERM')));
    await cleanBusinessRows();

    const stream = `test:telemetry:${randomUUID()}`;
    streams.push(stream);
    const [a, b, c] = [await instance(stream, 'shard-a'), await instance(stream, 'shard-b'), await instance(stream, 'shard-c')];
    children.push(a, b, c);
    await waitFor(async () => new Set((await owners(stream)).filter(Boolean)).size === 3, { timeoutMs: 30_000, what: 'shards spread over three instances' });
    // Paced, so the kill lands while entries arrive and batches are in flight.
    const publishing = publishFixes(redis, stream, fixes, { speed: 300 });
    await waitFor(async () => (await positions()) > fixes.length / 3, { timeoutMs: 60_000, what: 'a third of the positions' });
    const heldByB = (await owners(stream)).flatMap((owner, shard) => (owner === 'shard-b' ? [shard] : []));
    expect(heldByB.length).toBeGreaterThan(0);
    await kill(b, 'SIGKILL');
    const killedAt = performance.now();
    await waitFor(async () => {
      const now = await owners(stream);
      return heldByB.every((shard) => now[shard] === 'shard-a' || now[shard] === 'shard-c');
    }, { timeoutMs: 15_000, intervalMs: 100, what: 'the killed instance\'s shards taken over' });
    const failoverMs = performance.now() - killedAt;
    expect(failoverMs).toBeLessThan(10_000);

    await waitFor(async () => (await positions()) > (2 * fixes.length) / 3, { timeoutMs: 60_000, what: 'two thirds of the positions' });
    const d = await instance(stream, 'shard-d');
    children.push(d);
    await publishing;
    await settled(fixes.length);

    // Every shard held by exactly one live instance, the newcomer included.
    await waitFor(async () => {
      const now = await owners(stream);
      return now.every((o) => o === 'shard-a' || o === 'shard-c' || o === 'shard-d') && now.includes('shard-d');
    }, { timeoutMs: 15_000, what: 'the fourth instance holding shards' });

    // In order: along each device's fixes by GPS time, none was stored before an earlier one.
    const rows = (await db('positions').whereIn('device_id', devices).orderBy([{ column: 'device_id' }, { column: 'ts' }]).select('device_id', 'ts', 'ingested_at')) as { device_id: string; ts: Date; ingested_at: Date }[];
    let violations = 0;
    for (let i = 1; i < rows.length; i++) {
      if (rows[i]!.device_id === rows[i - 1]!.device_id && rows[i]!.ingested_at < rows[i - 1]!.ingested_at) violations++;
    }
    expect(violations).toBe(0);
    expect(rows).toHaveLength(fixes.length);

    // The same timing as one instance: no crossing lost or doubled, the same results and race events.
    const got = await outputs();
    expect(got.crossings).toEqual(expected.crossings);
    expect(got.results).toEqual(expected.results);
    // Race events: none twice, and the same ones, but for the ranks results had on the way (with several
    // instances the cars' results are ranked in another order while they come in; the final ranks are equal).
    expect(got.eventKeys.filter((key, i) => got.eventKeys.indexOf(key) !== i)).toEqual([]);
    const unranked = (keys: string[]) => [...new Set(keys.map((k) => k.replace(/,"rank":\d+/, '')))].sort();
    expect(unranked(got.eventKeys)).toEqual(unranked(expected.eventKeys));
  }, 400_000);

  it('stores every fix of a car whose shard moves to another instance when a backup tracker joins it', async () => {
    const stream = `test:telemetry:${randomUUID()}`;
    streams.push(stream);
    // The instance that times the car loads the setup every second, the other every six: between the two loads of
    // the change each routed the car's fixes to the other, and neither stored them.
    children.push(await instance(stream, 'fast', { PROCESSOR_SETUP_REFRESH_MS: '1000' }), await instance(stream, 'slow', { PROCESSOR_SETUP_REFRESH_MS: '6000' }));
    await waitFor(async () => new Set(await owners(stream)).size === 2 && !(await owners(stream)).includes(null), { timeoutMs: 30_000, what: 'shards spread over both instances' });
    const held = await owners(stream);
    const car = demoEntries.slice(0, ENTRIES).find((e) => held[shardOf(e.imei, SHARDS)] === 'fast')!;
    // A backup IMEI below the car's (the car's shard key becomes it) on a shard of the other instance.
    const backupImei = Array.from({ length: 100 }, (_, i) => `10000000000${String(i).padStart(4, '0')}`).find((imei) => held[shardOf(imei, SHARDS)] === 'slow')!;
    const { model } = await db('devices').where({ id: car.deviceId }).first('model');
    const backup = { id: randomUUID(), imei: backupImei, name: 'Backup tracker', model };
    const link = { id: randomUUID(), entry: car.id, device: backup.id, role: 'backup' };
    await db('devices').insert(backup);
    try {
      // 20 fixes a second, dated now, for 12 s; the backup joins the car after 2 s.
      const sent: number[] = [];
      const publishing = (async () => {
        const start = Date.now();
        for (let i = 0; Date.now() - start < 12_000; i++) {
          const ts = start + i * 50;
          await redis.xadd(stream, '*', ...toStreamFields({ deviceId: car.imei, ts, latitude: 31.4 + i * 1e-5, longitude: -4.2, altitude: 700, angle: 90, speed: 60, satellites: 12, priority: 0, attributes: {}, codec: '8E' }));
          sent.push(ts);
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, start + (i + 1) * 50 - Date.now())));
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      await db('entry_devices').insert(link);
      await publishing;
      const stored = async () => (await db('positions').where({ device_id: car.imei }).whereIn('ts', sent.map((ts) => new Date(ts))).count<{ count: string }[]>('* as count'))[0]!.count;
      await waitFor(async () => Number(await stored()) === sent.length, { timeoutMs: 20_000, what: `all ${sent.length} fixes stored` }).catch(() => undefined);
      expect(Number(await stored())).toBe(sent.length);
    } finally {
      await db('entry_devices').where({ id: link.id }).delete();
      await db('devices').where({ id: backup.id }).delete();
    }
  }, 120_000);
});
