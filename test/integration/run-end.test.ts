import { randomBytes, randomUUID } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { demoId } from '../../src/demo/demo-race.ts';
import { JobRunner, type JobEngine } from '../../src/jobs/job-runner.ts';
import { JobCancelledError } from '../../src/jobs/job.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const event = demoId('event');
const stage = demoId('stage:ss1');

/** What a replay of a long stage with many trackers returns: its tracks alone exceed Directus's 1 MB request body. */
function largeResult(): Record<string, unknown> {
  const tracks = Array.from({ length: 120 }, (_, i) => ({
    device_id: `35${String(i).padStart(13, '0')}`,
    points: Array.from({ length: 400 }, (_, j) => [31.39 + j * 1e-5, -4.17 + i * 1e-5, 1_767_000_000_000 + j * 1000]),
  }));
  return { mode: 'apply', diff: { counts: { entry_crossings: { added: 3, removed: 1, changed: 2, unchanged: 40 } }, rows: [] }, tracks, note: randomBytes(8).toString('hex') };
}

describe("a run's end", () => {
  let token: string;
  let db: Knex;
  const runs: string[] = [];

  const runner = (engine: JobEngine<any>) =>
    new JobRunner(db, { engines: { replay: engine }, directus: { directusUrl: stack.directusUrl, token: stack.processorToken } }, pino({ level: 'silent' }));
  const queue = async (body: Record<string, unknown>) => {
    const res = await call(stack, '/pitwall/replay', { token, body });
    expect(res.status, res.text).toBe(202);
    runs.push(res.json.run.id);
    return res.json.run.id as string;
  };
  const eventsOfRun = (id: string) => db('race_events').whereRaw(`payload->>'run' = ?`, [id]).select('type', 'source', 'payload');

  beforeAll(async () => {
    token = await adminToken(stack);
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
  });

  afterAll(async () => {
    await db('race_events').whereRaw(`payload->>'run' = ANY(?)`, [runs]).delete();
    await db('replay_runs').whereIn('id', runs).delete();
    await db.destroy();
  });

  it('is recorded with a result larger than Directus accepts in a request, and replay.completed is emitted once', async () => {
    const result = largeResult();
    const size = Buffer.byteLength(JSON.stringify(result));
    expect(size).toBeGreaterThan(1_100_000);
    // What the runner used to send: Directus refuses a body this large.
    const probe = await queue({ event, stage, from: '2020-01-01T00:00:00Z', to: '2020-01-01T01:00:00Z', mode: 'preview' });
    const refused = await call(stack, `/items/replay_runs/${probe}`, { token, method: 'PATCH', body: { result } });
    expect(refused.status).toBe(400);
    expect(refused.text).toMatch(/too large/i);

    const id = await queue({ event, stage, from: '2020-01-01T00:00:00Z', to: '2020-01-01T01:00:00Z', mode: 'apply' });
    const outcome = await runner({ params: z.looseObject({ mode: z.string() }), run: async () => result }).runNow('replay', id);
    expect(outcome?.status).toBe('succeeded');
    const run = (await call(stack, `/pitwall/replay/${id}`, { token })).json.run;
    expect(run).toMatchObject({ status: 'succeeded', progress: 1, error: null });
    expect(run.finished_at).not.toBeNull();
    expect(run.result).toEqual(result);
    await waitFor(async () => (await eventsOfRun(id)).length > 0, { what: 'replay.completed' });
    const events = await eventsOfRun(id);
    expect(events).toEqual([
      { type: 'replay.completed', source: 'replay', payload: { run: id, status: 'succeeded', summary: { mode: 'apply', note: result['note'], diff: { counts: (result['diff'] as { counts: unknown }).counts } } } },
    ]);
    // The runner asking again (its answer lost) changes and emits nothing.
    const again = await call(stack, `/pitwall/replay/${id}/end`, { token: stack.processorToken, body: { status: 'failed', error: 'late' } });
    expect(again.json).toEqual({ run: { id, status: 'succeeded' }, recorded: false });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await eventsOfRun(id)).toHaveLength(1);
  });

  it('records a failure with its reason, shortened when it is very long', async () => {
    const id = await queue({ event, stage, from: '2020-01-01T00:00:00Z', to: '2020-01-01T01:00:00Z', mode: 'preview' });
    const reason = `the stage has no finish line: ${'x'.repeat(20_000)}`;
    const outcome = await runner({ params: z.looseObject({}), run: async () => { throw new Error(reason); } }).runNow('replay', id);
    expect(outcome).toMatchObject({ status: 'failed' });
    const run = (await call(stack, `/pitwall/replay/${id}`, { token })).json.run;
    expect(run.status).toBe('failed');
    expect(run.error).toHaveLength(10_000);
    expect(run.error.startsWith('the stage has no finish line: xxx')).toBe(true);
  });

  it('of a cancelled run counts the work that went on committing after the cancel', async () => {
    const id = await queue({ event, stage, from: '2020-01-01T00:00:00Z', to: '2020-01-01T01:00:00Z', mode: 'preview' });
    const outcome = await runner({
      params: z.looseObject({}),
      run: async (_params, ctx) => {
        await ctx.progress({ processed: 20_000, total: 100_000 });
        // Cancelled by a user; the runner hears it at its next progress write (every second).
        expect((await call(stack, `/pitwall/replay/${id}/cancel`, { token, method: 'POST' })).json.run.status).toBe('cancelled');
        await waitFor(async () => ctx.signal.aborted, { timeoutMs: 5_000, intervalMs: 50, what: 'the cancel heard' });
        // A batch that was in flight commits, as a backfill's writers do, then the engine stops.
        await ctx.progress({ processed: 40_000, total: 100_000 });
        throw new JobCancelledError('cancelled');
      },
    }).runNow('replay', id);
    expect(outcome?.status).toBe('cancelled');
    const run = (await call(stack, `/pitwall/replay/${id}`, { token })).json.run;
    expect(run).toMatchObject({ status: 'cancelled', processed: 40_000, total: 100_000, progress: 0.4 });
  });

  it('is 404 PITWALL_RUN_NOT_FOUND for a run that does not exist, and a runner whose run was deleted meanwhile stops asking', async () => {
    const missing = await call(stack, `/pitwall/replay/${randomUUID()}/end`, { token: stack.processorToken, body: { status: 'succeeded' } });
    expect(missing.status, missing.text).toBe(404);
    expect(missing.json.errors[0].extensions.code).toBe('PITWALL_RUN_NOT_FOUND');

    const id = await queue({ event, stage, from: '2020-01-01T00:00:00Z', to: '2020-01-01T01:00:00Z', mode: 'preview' });
    const outcome = await runner({ params: z.looseObject({}), run: async () => { await db('replay_runs').where({ id }).delete(); return { mode: 'preview' }; } }).runNow('replay', id);
    expect(outcome?.status).toBe('succeeded');
    expect(await db('replay_runs').where({ id }).first('id')).toBeUndefined();
  });

  it('is refused to anonymous callers (401) and to users who are neither admins nor the processor (403)', async () => {
    const id = await queue({ event, stage, from: '2020-01-01T00:00:00Z', to: '2020-01-01T01:00:00Z', mode: 'preview' });
    await db('replay_runs').where({ id }).update({ status: 'running' });
    expect((await call(stack, `/pitwall/replay/${id}/end`, { body: { status: 'succeeded' } })).status).toBe(401);
    const roles = await call(stack, `/roles?filter[name][_eq]=Race Control&fields=id`, { token });
    const userToken = randomBytes(24).toString('hex');
    const user = await call(stack, '/users', { token, body: { email: `race-control-${randomUUID().slice(0, 8)}@pitwall.example.com`, role: roles.json.data[0].id, token: userToken, status: 'active' } });
    try {
      expect((await call(stack, `/pitwall/replay/${id}/end`, { token: userToken, body: { status: 'succeeded' } })).status).toBe(403);
    } finally {
      await call(stack, `/users/${user.json.data.id}`, { token, method: 'DELETE' });
    }
    expect(await db('replay_runs').where({ id }).first('status')).toEqual({ status: 'running' });
    await db('replay_runs').where({ id }).update({ status: 'cancelled' });
  });
});
