import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import { factId } from '../../src/domain/pipeline/fact-ids.ts';
import { factKey, type CrossingFact } from '../../src/domain/pipeline/facts.ts';
import { loadProcessorConfig } from '../../src/processor/config.ts';
import { Processor } from '../../src/processor/processor.ts';
import { publishFixes } from '../../src/simulator/publish.ts';
import { simulateRace } from '../../src/simulator/race-schedule.ts';
import { runCli } from '../support/cli.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { freePort, REDIS_URL } from '../support/stack.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const stage = demoId('stage:ss1');
const startGate = demoId('geofence:ss1:start');
// Entries no other test times.
const e19 = demoEntries[18]!;
const e20 = demoEntries[19]!;
const t0 = Date.UTC(2026, 1, 15, 11, 0, 0, 25);
const crossing = (entry: typeof e19): CrossingFact => ({
  type: 'crossing', key: factKey.crossing(entry.id, startGate, t0), entryId: entry.id, stageId: stage, gateId: startGate,
  deviceId: entry.imei, kind: 'start', crossedAt: t0, speedKmh: 77,
});
const routeNotFound = '{"errors":[{"message":"Route /pitwall/facts doesn\'t exist.","extensions":{"path":"/pitwall/facts","code":"ROUTE_NOT_FOUND"}}]}';

interface Health {
  status: number;
  body: { ok: boolean; reasons: string[]; [detail: string]: unknown };
}

describe('the processor /healthz', () => {
  let db: Knex;
  let redis: Redis;
  let token: string;
  const running: Processor[] = [];
  const proxies: TcpProxy[] = [];
  const streams: string[] = [];
  const devices = new Set<string>();
  const cliEnv = { DATABASE_URL: stack.databaseUrl };

  async function startProcessor(env: Record<string, string> = {}): Promise<{ port: number; stream: string }> {
    const stream = `test:telemetry:${randomUUID()}`;
    streams.push(stream, `${stream}:dead-letter`);
    const port = await freePort();
    const processor = new Processor(
      loadProcessorConfig({ DATABASE_URL: stack.databaseUrl, REDIS_URL, REDIS_TELEMETRY_STREAM: stream, METRICS_PORT: String(port), PROCESSOR_BLOCK_MS: '200', ...env }),
      pino({ level: 'silent' }),
    );
    running.push(processor);
    await processor.start();
    return { port, stream };
  }
  const health = async (port: number): Promise<Health> => {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    return { status: res.status, body: (await res.json()) as Health['body'] };
  };
  const healthWith = (port: number, status: number, what: string) =>
    waitFor(async () => {
      const seen = await health(port);
      return seen.status === status ? seen : undefined;
    }, { timeoutMs: 20_000, what });
  const metrics = async (port: number) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const fixesOf = (entries: number) => simulateRace({ start: Date.now() - 2 * 86_400_000, entries, stages: ['ss1'] }).slice(0, 40);

  beforeAll(async () => {
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 3 } });
    redis = new Redis(REDIS_URL);
    token = await adminToken(stack);
    await db('pitwall_outbox').delete();
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.close()));
    await Promise.all(proxies.splice(0).map((p) => p.stop()));
    if (streams.length) await redis.del(...streams.splice(0));
    if (devices.size) await db('positions').whereIn('device_id', [...devices]).delete();
    devices.clear();
    await db('pitwall_outbox').delete();
    const ids = [e19, e20].map((e) => factId(crossing(e).key));
    await db('entry_crossings').whereIn('id', ids).delete();
    await db('race_events').whereIn('entry', [e19.id, e20.id]).delete();
    await db('pitwall_fact_versions').whereIn('fact_id', ids).delete();
  });

  afterAll(async () => {
    redis.disconnect();
    await db.destroy();
  });

  it('answers 503 consumer-stalled while entries wait behind a blocked store, and 200 once the consumer moves again', async () => {
    const { port, stream } = await startProcessor({ PROCESSOR_STALL_MS: '1500' });
    expect((await healthWith(port, 200, 'a healthy start')).body).toMatchObject({ ok: true, reasons: [], stallMs: 1500 });

    const lock = await db.transaction();
    try {
      await lock.raw('LOCK TABLE positions IN ACCESS EXCLUSIVE MODE');
      const fixes = fixesOf(1);
      for (const fix of fixes) devices.add(fix.deviceId);
      await publishFixes(redis, stream, fixes, { speed: 0 });
      // Right after the entries arrive the consumer has just made progress (it found nothing before): not a stall yet.
      expect((await health(port)).status).toBe(200);

      const stalled = await healthWith(port, 503, 'the stall to show');
      expect(stalled.body).toMatchObject({ ok: false, reasons: ['consumer-stalled'], redis: true, postgres: true });
      expect(Number(stalled.body['pending']) + Number(stalled.body['lag'])).toBeGreaterThan(0);
      expect(stalled.body['sinceProgressMs']).toBeGreaterThan(1500);
      const age = /pitwall_consumer_oldest_pending_age_seconds\{[^}]*\} (\S+)/.exec(await metrics(port));
      expect(Number(age?.[1])).toBeGreaterThan(0);
    } finally {
      await lock.commit();
    }

    expect((await healthWith(port, 200, 'health back after the lock')).body).toMatchObject({ ok: true, reasons: [] });
    // The group follows the slowest shard's progress within a rebalance round.
    await waitFor(async () => {
      const seen = await health(port);
      return seen.body['lag'] === 0 && seen.body['pending'] === 0 && seen.body['ok'] === true;
    }, { timeoutMs: 10_000, what: 'lag 0 after the lock' });
    expect(await db('positions').whereIn('device_id', [...devices]).count<{ count: string }[]>('* as count')).toEqual([{ count: '40' }]);
    expect(await metrics(port)).toMatch(/pitwall_consumer_oldest_pending_age_seconds\{[^}]*\} 0\n/);
  });

  it('answers 503 outbox-parked while parked rows wait, lists them, and 200 once `pitwall outbox redrive` delivered them', async () => {
    const { port } = await startProcessor({ DIRECTUS_URL: stack.directusUrl, DIRECTUS_TOKEN: stack.processorToken });
    // As an older courier parked a 404 of a Directus being deployed: a valid batch that Directus takes now.
    const fact = crossing(e19);
    const [{ id }] = await db('pitwall_outbox')
      .insert({ source: 'live', payload: JSON.stringify({ upserts: [fact], retractions: [] }), attempts: 1, last_error: `HTTP 404: ${routeNotFound}`, failed_at: db.fn.now() })
      .returning('id');

    const parked = await healthWith(port, 503, 'the parked row to show');
    expect(parked.body).toMatchObject({ ok: false, reasons: ['outbox-parked'], parked: 1, outbox: 0 });
    expect(await metrics(port)).toMatch(/\npitwall_outbox_parked 1\n/);

    const list = await runCli(['outbox', 'list'], cliEnv);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain('0 fact batches waiting for Directus, 1 parked');
    expect(list.stdout).toContain(`#${id}  live  1 facts`);
    expect(list.stdout).toContain('ROUTE_NOT_FOUND');

    const redrive = await runCli(['outbox', 'redrive'], cliEnv);
    expect(redrive.code, redrive.stderr).toBe(0);
    expect(redrive.stdout).toContain('put back in line: 1 parked fact batch');
    expect(redrive.stdout).toContain(`#${id}`);

    await waitFor(async () => (await db('pitwall_outbox').count<{ count: string }[]>('* as count'))[0]!.count === '0', { what: 'the redriven row to be delivered' });
    const stored = await call(stack, `/items/entry_crossings?filter[id][_eq]=${factId(fact.key)}&fields=speed_kmh`, { token });
    expect(stored.json.data).toEqual([{ speed_kmh: 77 }]);
    expect((await healthWith(port, 200, 'health back after the redrive')).body).toMatchObject({ ok: true, reasons: [], parked: 0 });
    expect(await metrics(port)).toMatch(/\npitwall_outbox_parked 0\n/);
    expect((await runCli(['outbox', 'redrive'], cliEnv)).stdout).toContain('no parked fact batches');
  });

  it("parks a batch the facts route refuses as invalid, with the route's reason; a redrive of it by id parks it again", async () => {
    const { port } = await startProcessor({ DIRECTUS_URL: stack.directusUrl, DIRECTUS_TOKEN: stack.processorToken });
    const bad = { ...crossing(e20), gateId: 'not-a-uuid' };
    const [{ id }] = await db('pitwall_outbox').insert({ source: 'live', payload: JSON.stringify({ upserts: [bad], retractions: [] }) }).returning('id');
    const parkedRow = () => db('pitwall_outbox').where({ id }).first('attempts', 'last_error', 'failed_at');
    await waitFor(async () => Boolean((await parkedRow())?.failed_at), { what: 'the courier to park the row' });
    expect(await parkedRow()).toMatchObject({ attempts: 1, last_error: 'invalid fact batch: upserts.0.gateId: Invalid UUID' });
    expect((await healthWith(port, 503, 'the parked row to show')).body.reasons).toEqual(['outbox-parked']);

    const listed = JSON.parse((await runCli(['outbox', 'list', '--json'], cliEnv)).stdout);
    expect(listed).toMatchObject({ pending: 0, parked: 1, parkedRows: [{ id: String(id), facts: 1, lastError: 'invalid fact batch: upserts.0.gateId: Invalid UUID' }] });

    expect((await runCli(['outbox', 'redrive', '--id', 'abc'], cliEnv)).code).toBe(2);
    const unknown = await runCli(['outbox', 'redrive', '--id', '999999999'], cliEnv);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toContain('#999999999 is not parked');
    expect((await runCli(['outbox', 'redrive', '--id', String(id)], cliEnv)).code).toBe(0);
    await waitFor(async () => {
      const row = await parkedRow();
      return Boolean(row?.failed_at) && row.attempts === 2;
    }, { what: 'the redriven row to be parked again' });

    await db('pitwall_outbox').where({ id }).delete();
    expect((await healthWith(port, 200, 'health once the row is gone')).body.reasons).toEqual([]);
  });

  it('answers 503 naming Postgres or Redis while it cannot reach it, promptly, and 200 once it can again', async () => {
    const pg = new TcpProxy(5432, '127.0.0.1');
    const rd = new TcpProxy(Number(new URL(REDIS_URL).port || 6379), new URL(REDIS_URL).hostname);
    proxies.push(pg, rd);
    await pg.start(await freePort());
    await rd.start(await freePort());
    const { port } = await startProcessor({
      DATABASE_URL: `postgres://postgres@127.0.0.1:${pg.port}/${stack.databaseName}`,
      REDIS_URL: `redis://127.0.0.1:${rd.port}`,
    });
    await healthWith(port, 200, 'a healthy start');

    await pg.stop();
    const noPostgres = await healthWith(port, 503, 'Postgres to be missed');
    expect(noPostgres.body).toMatchObject({ reasons: ['postgres-unreachable'], postgres: false, redis: true, errors: { postgres: expect.any(String) } });
    const started = performance.now();
    await health(port);
    expect(performance.now() - started).toBeLessThan(5_000);
    await pg.resume();
    await healthWith(port, 200, 'Postgres back');

    await rd.stop();
    const noRedis = await healthWith(port, 503, 'Redis to be missed');
    expect(noRedis.body).toMatchObject({ reasons: ['redis-unreachable'], redis: false, postgres: true });
    await rd.resume();
    await healthWith(port, 200, 'Redis back');
  });
});
