import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Position } from '../../src/domain/position.ts';
import type { Processor } from '../../src/processor/processor.ts';
import { toStreamFields } from '../../src/simulator/publish.ts';
import { writeProcessorStatus } from '../../src/store/processor-status.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { startRacingProcessor } from '../support/racing-processor.ts';
import { REDIS_URL } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');

/** A tracker no entry carries: its fixes are stored, never timed. */
const imei = `35${String(Date.now()).slice(-13)}`;
const fix = (i: number, base: number): Position => ({
  deviceId: imei, ts: base + i * 1000, latitude: 31.39 + i * 0.0001, longitude: -4.17, altitude: 700,
  angle: 0, speed: 40, satellites: 9, priority: 0, attributes: {}, codec: '8E',
});

/**
 * The processor's health as the race office sees it: a real processor (as its own database role) writes its status
 * row, and `GET /pitwall/status` on the real Directus serves it to the health panel.
 */
describe('GET /pitwall/status and the processor status row', () => {
  let db: Knex;
  let redis: Redis;
  let token: string;
  let processor: Processor | null = null;
  const instance = `status-test-${randomBytes(3).toString('hex')}`;
  const stream = `test:telemetry:${randomUUID()}`;
  /** As the admin unless told; null: anonymous. */
  const status = async (as: string | null = token) => call(stack, '/pitwall/status', as === null ? {} : { token: as });
  const mine = async () => ((await status()).json.processors as any[]).find((p) => p.instance === instance);

  beforeAll(async () => {
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    redis = new Redis(REDIS_URL);
    token = await adminToken(stack);
    // Rows of processors earlier test files started (and closed): this test reads the summary of its own.
    await db('pitwall_processor_status').delete();
    // Runs earlier test files left queued or running (their runner stopped) would read as runs no job runner takes
    // (reason runs-waiting).
    for (const table of ['replay_runs', 'backfill_runs']) await db(table).whereIn('status', ['queued', 'running']).update({ status: 'cancelled' });
    processor = await startRacingProcessor(stack, stream, { PROCESSOR_CONSUMER: instance, PROCESSOR_BLOCK_MS: '200' });
  });

  afterAll(async () => {
    await processor?.close();
    await redis.del(stream, `${stream}:dead-letter`);
    await db('positions').where({ device_id: imei }).delete();
    await db('pitwall_outbox').where({ last_error: 'status test' }).delete();
    await db('pitwall_processor_status').delete();
    redis.disconnect();
    await db.destroy();
  });

  it('serves what the processor reports every few seconds: healthy, positions per minute, lag, outbox, dead letters', async () => {
    const base = Date.now() - 120_000;
    for (let i = 0; i < 30; i++) await redis.xadd(stream, '*', ...toStreamFields(fix(i, base)));
    const row = await waitFor(async () => {
      const seen = await mine();
      return seen && seen.positions_stored_total >= 30 && seen.positions_per_minute !== null ? seen : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500, what: 'a status row counting the 30 positions, with a rate' });
    expect(row).toMatchObject({ healthy: true, reasons: [], silent: false, outbox_parked: 0, dead_letters_total: 0 });
    expect(row.positions_per_minute).toBeGreaterThan(0);
    expect(row.lag).toBeTypeOf('number');
    expect(row.age_seconds).toBeLessThan(10);
    const { json } = await status();
    expect(json.summary).toMatchObject({ state: 'ok', reasons: [], outbox_parked: 0, silent_since: null });
    expect(json.summary.positions_per_minute).toBe(row.positions_per_minute);
  });

  it('reports a parked outbox row as the reason it is unhealthy, and is healthy again once it is gone', async () => {
    await db('pitwall_outbox').insert({ source: 'live', payload: JSON.stringify({ upserts: [], retractions: [] }), attempts: 1, last_error: 'status test', failed_at: db.fn.now() });
    const unhealthy = await waitFor(async () => {
      const { json } = await status();
      return json.summary.state === 'unhealthy' ? json.summary : undefined;
    }, { timeoutMs: 20_000, intervalMs: 500, what: 'the parked row in the status' });
    expect(unhealthy).toMatchObject({ reasons: ['outbox-parked'], outbox_parked: 1 });
    await db('pitwall_outbox').where({ last_error: 'status test' }).delete();
    await waitFor(async () => (await status()).json.summary.state === 'ok', { timeoutMs: 20_000, intervalMs: 500, what: 'healthy again' });
  });

  it('counts dead letters, and how many came in the last minute', async () => {
    await redis.xadd(stream, '*', 'ts', new Date().toISOString(), 'device_id', imei, 'codec', '8E', 'payload', '{not json');
    const row = await waitFor(async () => {
      const seen = await mine();
      return seen?.dead_letters_total === 1 && seen.dead_letters_per_minute > 0 ? seen : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500, what: 'the dead letter in the status' });
    expect(row.dead_letters_per_minute).toBeGreaterThan(0);
  });

  it('says a run is stopped when its job runner no longer beats, in the status and in the run, and not while one does', async () => {
    const stopped = randomUUID();
    await db('backfill_runs').insert({ id: stopped, status: 'running', params: JSON.stringify({}), processed: 0, heartbeat_at: db.raw("now() - interval '2 minutes'") });
    try {
      const waiting = await waitFor(async () => ((await status()).json.summary.runs_waiting as any[]).find((r) => r.kind === 'backfill'), { what: 'the stopped run in the status' });
      expect(waiting).toMatchObject({ kind: 'backfill', queued: 0, stalled: 1 });
      expect(waiting.stalled_seconds).toBeGreaterThanOrEqual(119);
      expect((await status()).json.summary.reasons).toContain('runs-waiting');
      // The run itself says so too, for the panel that shows it.
      const read = async () => (await call(stack, `/pitwall/backfill/${stopped}`, { token })).json.run;
      expect((await read()).stalled_seconds).toBeGreaterThanOrEqual(119);
      // A runner beating again (it took the run back): nothing waits.
      await db('backfill_runs').where({ id: stopped }).update({ heartbeat_at: db.fn.now() });
      expect((await status()).json.summary.runs_waiting).toEqual([]);
      expect(await read()).toMatchObject({ status: 'running', stalled_seconds: null });
    } finally {
      await db('backfill_runs').where({ id: stopped }).delete();
    }
  });

  it('a second process started under the same name waits, says so, and leaves the working one\'s row alone', async () => {
    const row = async () => db('pitwall_processor_status').where({ instance }).first('started_at', 'positions_stored_total');
    const working = await row();
    const twin = await startRacingProcessor(stack, stream, { PROCESSOR_CONSUMER: instance, PROCESSOR_BLOCK_MS: '200' });
    try {
      await waitFor(async () => (await twin.health()).waiting === 'consumer-name', { timeoutMs: 10_000, what: 'the twin waiting for the name' });
      // Two of its writes' time: the row is still the working one's (it had overwritten it with its own idle figures).
      await new Promise((resolve) => setTimeout(resolve, 11_000));
      expect(await row()).toEqual(working);
      expect((await processor!.health()).waiting).toBeUndefined();
    } finally {
      await twin.close();
    }
    // Stopped, the twin takes away no row: it never held the name.
    expect(await row()).toEqual(working);
  });

  it('takes its row away when stopped on purpose; one killed is called silent since its last report', async () => {
    await processor!.close();
    processor = null;
    // Stopped on purpose (npm stop, a scale-down): the panel said "a processor went silent" for the hour it keeps rows.
    expect(await db('pitwall_processor_status').where({ instance })).toEqual([]);
    // Killed: its last report stays, as if written two minutes ago (the row would take 30 s to go stale).
    await writeProcessorStatus(db, {
      instance, startedAt: new Date(Date.now() - 600_000), healthy: true, reasons: [], positionsStoredTotal: 30, positionsPerMinute: 30,
      lag: 0, pending: 0, oldestPendingSeconds: 0, outboxPending: 0, outboxParked: 0, deadLettersTotal: 1, deadLettersPerMinute: 0,
    });
    await db('pitwall_processor_status').where({ instance }).update({ updated_at: db.raw("now() - interval '2 minutes'") });
    const { updated_at } = await db('pitwall_processor_status').where({ instance }).first('updated_at');
    const { json } = await status();
    expect(json.summary).toMatchObject({ state: 'silent', reasons: ['processor-silent'], positions_per_minute: null, silent_since: new Date(updated_at).toISOString() });
    expect(json.processors[0]).toMatchObject({ instance, silent: true });
    expect(json.processors[0].age_seconds).toBeGreaterThanOrEqual(119);
  });

  it('answers admins and Race Control only', async () => {
    expect((await status(null)).status).toBe(401);
    expect((await status(stack.processorToken)).status).toBe(403);
    const userToken = randomBytes(24).toString('hex');
    const user = await call(stack, '/users', { token, body: { email: `no-role-${randomUUID().slice(0, 8)}@pitwall.example.com`, role: null, token: userToken, status: 'active' } });
    try {
      expect((await status(userToken)).status).toBe(403);
    } finally {
      await call(stack, `/users/${user.json.data.id}`, { token, method: 'DELETE' });
    }
  });
});
