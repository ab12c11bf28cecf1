import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import { loadJobsConfig } from '../../src/jobs/jobs-config.ts';
import { JobsService } from '../../src/jobs/jobs-service.ts';
import type { Processor } from '../../src/processor/processor.ts';
import { unclassifiedTables } from '../../src/setup/database-role.ts';
import { runSetup } from '../../src/setup/setup.ts';
import { publishFixes } from '../../src/simulator/publish.ts';
import { simulateRace } from '../../src/simulator/race-schedule.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { startRacingProcessor } from '../support/racing-processor.ts';
import { freePort, REDIS_URL, setupOptions } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const role = stack.processorDatabaseRole.name;

/** What Postgres answers to a statement the role may not run. */
const denied = async (statement: Promise<unknown>): Promise<string> => {
  const error = await statement.then(() => null, (e: { code?: string }) => e);
  return error?.code ?? 'allowed';
};

describe("the processor's database role", () => {
  let owner: Knex;
  let processorDb: Knex;
  const setup = () => runSetup(owner, setupOptions(stack));

  beforeAll(() => {
    owner = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    processorDb = knexFactory({ client: 'pg', connection: stack.processorDatabaseUrl, pool: { min: 0, max: 2 } });
  });

  afterAll(async () => {
    await processorDb.destroy();
    await owner.destroy();
  });

  it('is a plain login role, not the owner of Directus tables', async () => {
    const { rows } = await processorDb.raw('SELECT current_user AS name, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser');
    expect(rows[0]).toEqual({ name: role, superuser: false });
    const owners = await owner.raw(`SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relname IN ('directus_users', 'positions', 'stage_results')`);
    expect(owners.rows.map((r: { owner: string }) => r.owner)).not.toContain(role);
  });

  it('cannot read directus_users, webhook secrets or tokens, and cannot write what it only reads', async () => {
    expect(await denied(processorDb('directus_users').select('email', 'token').limit(1))).toBe('42501');
    expect(await denied(processorDb('directus_sessions').select('*').limit(1))).toBe('42501');
    expect(await denied(processorDb('webhook_subscriptions').select('*').limit(1))).toBe('42501');
    // A pending race event is published by Directus as the system: writing one would forge what integrators get.
    expect(await denied(processorDb('pitwall_pending_events').insert({ id: randomUUID(), item: '{}' }))).toBe('42501');
    expect(await denied(processorDb('race_events').select('id').limit(1))).toBe('42501');
    expect(await denied(processorDb('positions').update({ faulty: true }).where('device_id', 'nobody'))).toBe('42501');
    expect(await denied(processorDb('positions').delete().where('device_id', 'nobody'))).toBe('42501');
    expect(await denied(processorDb('stage_results').delete().where('id', randomUUID()))).toBe('42501');
    expect(await denied(processorDb('events').update({ name: 'x' }).where('id', randomUUID()))).toBe('42501');
    expect(await denied(processorDb('replay_runs').update({ params: '{}' }).where('id', randomUUID()))).toBe('42501');
    // No DDL: it runs no migrations (setup and `pitwall migrate` do, as the owner).
    expect(await denied(processorDb.raw('CREATE TABLE pitwall_intruder (id int)'))).toBe('42501');
    expect(await denied(processorDb.raw('ALTER TABLE positions ADD COLUMN intruder int'))).toBe('42501');
    // What it does use, it may.
    expect(await denied(processorDb('entry_devices').select('*').limit(1))).toBe('allowed');
    expect(await denied(processorDb('replay_runs').update({ heartbeat_at: processorDb.fn.now() }).where('id', randomUUID()))).toBe('allowed');
  });

  it('every Pitwall table is either granted to it or kept for the bundle: a new table is a decision', async () => {
    expect(await unclassifiedTables(owner)).toEqual([]);
  });

  it('setup takes back what it was given beyond its grants, and then changes nothing', async () => {
    const other = `pitwall_test_other_${process.pid}`;
    await owner.raw(`CREATE ROLE ${other} NOLOGIN`);
    try {
      await owner.raw(`GRANT SELECT ON directus_users TO ${role}`);
      await owner.raw(`GRANT UPDATE ON positions TO ${role}`);
      await owner.raw(`GRANT UPDATE (params) ON replay_runs TO ${role}`);
      await owner.raw(`GRANT ${other} TO ${role}`);
      await owner.raw(`ALTER ROLE ${role} CREATEDB`);
      await owner.raw(`REVOKE SELECT ON stage_results FROM ${role}`);
      expect(await denied(processorDb('directus_users').select('id').limit(1))).toBe('allowed');

      const done = await setup();
      expect(done).toEqual(expect.arrayContaining([
        expect.stringMatching(new RegExp(`^reset the attributes of database role ${role}`)),
        `remove database role ${role} from role ${other}`,
        `grant ${role} SELECT on stage_results`,
        `revoke SELECT on directus_users from ${role}`,
        `revoke UPDATE on positions from ${role}`,
        `revoke UPDATE (params) on replay_runs from ${role}`,
      ]));
      expect(await denied(processorDb('directus_users').select('id').limit(1))).toBe('42501');
      expect(await denied(processorDb('stage_results').select('id').limit(1))).toBe('allowed');
      expect((await setup()).filter((line) => line.includes(role))).toEqual([]);
    } finally {
      await owner.raw(`DROP ROLE IF EXISTS ${other}`);
    }
  });

  describe('as deployed: the processor and the job runner connect as it', () => {
    const stream = `test:telemetry:${randomUUID()}`;
    const entries = demoEntries.slice(0, 2);
    const devices = entries.map((e) => e.imei);
    let redis: Redis;
    let processor: Processor | null = null;
    let jobs: JobsService | null = null;
    let token: string;
    const runs: { table: string; id: string }[] = [];

    beforeAll(async () => {
      redis = new Redis(REDIS_URL);
      token = await adminToken(stack);
    });

    afterAll(async () => {
      await processor?.close();
      await jobs?.close();
      await redis.del(stream, `${stream}:dead-letter`);
      redis.disconnect();
      await owner('positions').whereIn('device_id', devices).delete();
      await owner('decoded_attributes').whereIn('device_id', devices).delete();
      for (const collection of ['entry_crossings', 'entry_penalties', 'stage_results']) await owner(collection).whereIn('entry', entries.map((e) => e.id)).delete();
      await owner('anomalies').whereIn('device_id', devices).delete();
      for (const { table, id } of runs) await owner(table).where({ id }).delete();
    });

    it('stores positions and times a stage, then replays and backfills it', async () => {
      const stage = (await call(stack, `/items/stages/${demoId('stage:ss1')}?fields=opens_at`, { token })).json.data;
      const fixes = simulateRace({ start: Date.parse(stage.opens_at) + 3_600_000, entries: entries.length, stages: ['ss1'], seed: 11 });
      await publishFixes(redis, stream, fixes, { speed: 0 });
      processor = await startRacingProcessor(stack, stream);
      await waitFor(async () => {
        const results = await owner('stage_results').whereIn('entry', entries.map((e) => e.id)).andWhere({ stage: demoId('stage:ss1'), status: 'finished' });
        return results.length === entries.length;
      }, { timeoutMs: 90_000, intervalMs: 500, what: 'both entries timed by the processor' });
      const stored = await owner('positions').whereIn('device_id', devices).count<{ count: string }[]>('* as count');
      expect(Number(stored[0]!.count)).toBe(fixes.length);
      await processor.close();
      processor = null;

      jobs = new JobsService(
        loadJobsConfig({ DATABASE_URL: stack.processorDatabaseUrl, DIRECTUS_URL: stack.directusUrl, DIRECTUS_TOKEN: stack.processorToken, METRICS_PORT: String(await freePort()), JOBS_POLL_MS: '200' }),
        pino({ level: 'silent' }),
      );
      await jobs.start();
      const from = new Date(fixes[0]!.ts - 60_000).toISOString();
      const to = new Date(fixes.at(-1)!.ts + 60_000).toISOString();
      const queued = [
        await call(stack, '/pitwall/replay', { token, body: { stage: demoId('stage:ss1'), devices, from, to, mode: 'apply' } }),
        await call(stack, '/pitwall/backfill', { token, body: { devices, from, to } }),
      ];
      for (const [i, res] of queued.entries()) {
        expect(res.status, res.text).toBe(202);
        runs.push({ table: i === 0 ? 'replay_runs' : 'backfill_runs', id: res.json.run.id });
      }
      for (const { table, id } of runs) {
        const kind = table === 'replay_runs' ? 'replay' : 'backfill';
        const run = await waitFor(async () => {
          const { json } = await call(stack, `/pitwall/${kind}/${id}`, { token });
          return ['succeeded', 'failed', 'cancelled'].includes(json.run.status) ? json.run : undefined;
        }, { timeoutMs: 60_000, what: `the ${kind} run` });
        expect(run, JSON.stringify(run.error)).toMatchObject({ status: 'succeeded', processed: fixes.length });
      }
      // The replay found what the live processor had stored: nothing to change.
      const replay = (await call(stack, `/pitwall/replay/${runs[0]!.id}`, { token })).json.run;
      expect(replay.result.diff.counts).toBeDefined();
    });
  });
});
