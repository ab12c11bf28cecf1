import { spawn } from 'node:child_process';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { repoRoot } from '../../src/devstack/directus-process.ts';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import { loadJobsConfig } from '../../src/jobs/jobs-config.ts';
import { JobsService } from '../../src/jobs/jobs-service.ts';
import { simulateRace } from '../../src/simulator/race-schedule.ts';
import { insertPositions } from '../../src/store/positions.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { HttpStubProxy } from '../support/http-stub-proxy.ts';
import { freePort } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const event = demoId('event');
const ss1 = demoId('stage:ss1');
const entry = demoEntries[0]!;

/** What Directus answers while it is being deployed and has not loaded the bundle yet. */
const routeNotFound = JSON.stringify({ errors: [{ message: "Route /pitwall/facts doesn't exist.", extensions: { path: '/pitwall/facts', code: 'ROUTE_NOT_FOUND' } }] });
const tooLarge = JSON.stringify({ errors: [{ message: 'Request too large.', extensions: { code: 'REQUEST_TOO_LARGE' } }] });
const factsIn = (body: string) => {
  const parsed = JSON.parse(body) as { upserts: unknown[]; removals?: unknown[]; retractions: unknown[] };
  return parsed.upserts.length + (parsed.removals?.length ?? 0) + parsed.retractions.length;
};

/**
 * Replay's apply mode delivers through Directus as the live outbox does (issue 12, "The outbox never silently gives
 * up"): 404s of a Directus being deployed and other passing answers are retried while the run keeps its heartbeat,
 * a too-large batch goes again in halves, a cancel stops the retries within a second.
 */
describe('replay apply through a Directus that is not ready', () => {
  let db: Knex;
  let token: string;
  let jobs: JobsService | null = null;
  let proxy: HttpStubProxy;
  let from: number;
  let to: number;
  const runs: string[] = [];

  const startRunner = async () => {
    jobs = new JobsService(
      loadJobsConfig({ DATABASE_URL: stack.databaseUrl, DIRECTUS_URL: proxy.url, DIRECTUS_TOKEN: stack.processorToken, METRICS_PORT: String(await freePort()), JOBS_POLL_MS: '200' }),
      pino({ level: 'silent' }),
    );
    await jobs.start();
  };
  const queueApply = async () => {
    const res = await call(stack, '/pitwall/replay', { token, body: { event, entries: [entry.id], from: new Date(from).toISOString(), to: new Date(to).toISOString(), mode: 'apply' } });
    expect(res.status, res.text).toBe(202);
    runs.push(res.json.run.id);
    return res.json.run.id as string;
  };
  const run = (id: string) => db('replay_runs').where({ id }).first('status', 'heartbeat_at', 'result', 'error');
  /** The run's row once it has ended. */
  const ended = (id: string, timeoutMs: number) =>
    waitFor(async () => {
      const now = await run(id);
      return ['succeeded', 'failed', 'cancelled'].includes(now.status) ? now : undefined;
    }, { timeoutMs, what: 'the run to end' });
  const factRequests = () => proxy.seen.filter((r) => r.path === '/pitwall/facts');
  const crossingsInRange = () => db('entry_crossings').where({ entry: entry.id }).whereBetween('crossed_at', [new Date(from), new Date(to)]).select('id', 'kind', 'source');

  const clearFacts = async () => {
    const crossings = await db('entry_crossings').where({ entry: entry.id }).whereBetween('crossed_at', [new Date(from), new Date(to)]).pluck('id');
    await db('race_events').whereRaw(`payload->>'crossing' = ANY(?)`, [crossings]).delete();
    await db('entry_crossings').whereIn('id', crossings).delete();
    await db('stage_results').where({ entry: entry.id, stage: ss1 }).delete();
    await db('entry_penalties').where({ entry: entry.id }).delete();
    await db('anomalies').where({ device_id: entry.imei }).whereBetween('started_at', [new Date(from), new Date(to)]).delete();
  };

  beforeAll(async () => {
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 4 } });
    token = await adminToken(stack);
    const { opens_at } = await db('stages').where({ id: ss1 }).first('opens_at');
    // Two days into the stage's window: a time no other test times this entry at.
    const start = new Date(opens_at).getTime() + 2 * 24 * 3_600_000 + 7 * 3_600_000;
    from = start - 600_000;
    to = start + 3 * 3_600_000;
    const fixes = simulateRace({ start, entries: 1, stages: ['ss1'], seed: 33 });
    await insertPositions(db, fixes);
  });

  afterEach(async () => {
    await jobs?.close();
    jobs = null;
    await proxy?.stop();
    await clearFacts();
  });

  afterAll(async () => {
    await db('positions').where({ device_id: entry.imei }).whereBetween('ts', [new Date(from), new Date(to)]).delete();
    await db('replay_runs').whereIn('id', runs).delete();
    await db('race_events').whereRaw(`payload->>'run' = ANY(?)`, [runs]).delete();
    await db.destroy();
  });

  it('retries the 404s of a Directus being deployed while the run keeps its heartbeat, halves a batch found too large, and applies once, then records its end', async () => {
    let deploying = true;
    let endMisses = 0;
    proxy = new HttpStubProxy(stack.directusUrl, (req) => {
      // The end of the run meets the deploy's 404s too (twice).
      if (req.path.endsWith('/end') && endMisses < 2) {
        endMisses++;
        return { status: 404, body: routeNotFound };
      }
      if (req.path !== '/pitwall/facts') return null;
      if (deploying) return { status: 404, body: routeNotFound };
      // Then a Directus with a small MAX_PAYLOAD_SIZE: more than three facts at once are too large.
      return factsIn(req.body) > 3 ? { status: 413, body: tooLarge } : null;
    });
    await proxy.start();
    await startRunner();
    const id = await queueApply();

    // 250 + 500 + 1000 + 2000 ms of backoff: the run stays running, its heartbeat fresh, nothing applied yet.
    await waitFor(async () => factRequests().length >= 5, { timeoutMs: 20_000, what: 'five refused deliveries' });
    const waiting = await run(id);
    expect(waiting.status).toBe('running');
    expect(Date.now() - new Date(waiting.heartbeat_at).getTime()).toBeLessThan(2500);
    expect(await crossingsInRange()).toEqual([]);

    deploying = false;
    const done = await ended(id, 60_000);
    expect(done, JSON.stringify(done.error)).toMatchObject({ status: 'succeeded' });
    const applied = (typeof done.result === 'string' ? JSON.parse(done.result) : done.result).applied;
    expect(applied.batches).toBe(1);
    expect(applied.upserts).toBeGreaterThan(3);
    // The proxy notes the answer once it has passed it on, a moment after Directus recorded the end.
    const ends = () => proxy.seen.filter((r) => r.path.endsWith('/end')).map((r) => r.status);
    await waitFor(async () => ends().length === 3, { timeoutMs: 5000, what: 'the recorded end' });
    expect(ends()).toEqual([404, 404, 200]);
    await waitFor(async () => (await db('race_events').where({ type: 'replay.completed' }).whereRaw(`payload->>'run' = ?`, [id]).count<{ count: string }[]>('* as count'))[0]!.count === '1', { what: 'replay.completed' });

    // The 404s, then the batch refused as too large and sent again in halves down to three facts or fewer.
    const statuses = factRequests().map((r) => r.status);
    expect(statuses.slice(0, statuses.indexOf(413))).toEqual(statuses.slice(0, statuses.indexOf(413)).map(() => 404));
    const accepted = factRequests().filter((r) => r.status === 200);
    expect(accepted.every((r) => factsIn(r.body) <= 3)).toBe(true);
    expect(accepted.reduce((sum, r) => sum + factsIn(r.body), 0)).toBe(applied.upserts + applied.removals);

    // Applied once: each replayed crossing stored and announced once.
    const crossings = await crossingsInRange();
    expect(crossings.map((c) => c.kind).sort()).toEqual(expect.arrayContaining(['finish', 'start']));
    expect(crossings.every((c) => c.source === 'replay')).toBe(true);
    for (const crossing of crossings) {
      expect(await db('race_events').where({ type: 'timing.crossing.recorded' }).whereRaw(`payload->>'crossing' = ?`, [crossing.id]).count<{ count: string }[]>('* as count')).toEqual([{ count: '1' }]);
    }
  });

  it('refuses a cancel once applying has begun, and applies everything when Directus takes it', async () => {
    let deploying = true;
    proxy = new HttpStubProxy(stack.directusUrl, (req) => (req.path === '/pitwall/facts' && deploying ? { status: 404, body: routeNotFound } : null));
    await proxy.start();
    await startRunner();
    const id = await queueApply();
    await waitFor(async () => factRequests().length >= 2, { timeoutMs: 20_000, what: 'two refused deliveries' });

    // Stopped now, the entry's stored crossings would be removed and their replacements never written.
    const refused = await call(stack, `/pitwall/replay/${id}/cancel`, { token, method: 'POST' });
    expect(refused.status).toBe(409);
    expect(refused.json.errors[0].extensions.code).toBe('PITWALL_RUN_FINISHING');
    expect(refused.json.errors[0].message).toContain('?force=true');
    expect((await run(id)).status).toBe('running');

    deploying = false;
    const done = await ended(id, 30_000);
    expect(done, JSON.stringify(done.error)).toMatchObject({ status: 'succeeded' });
    const crossings = await crossingsInRange();
    expect(crossings.length).toBeGreaterThan(0);
    expect(crossings.every((c) => c.source === 'replay')).toBe(true);
    // A cancel after the end leaves the run as it ended.
    expect((await call(stack, `/pitwall/replay/${id}/cancel`, { token, method: 'POST' })).json.run.status).toBe('succeeded');
  });

  it('pitwall replay: Ctrl-C while applying says so and goes on; the run applies whole', async () => {
    let deploying = true;
    proxy = new HttpStubProxy(stack.directusUrl, (req) => (req.path === '/pitwall/facts' && deploying ? { status: 404, body: routeNotFound } : null));
    await proxy.start();
    const args = ['replay', '--event', event, '--entries', entry.id, '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString(), '--mode', 'apply'];
    const child = spawn(join(repoRoot, 'bin/pitwall'), args, {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: stack.databaseUrl, DIRECTUS_URL: proxy.url, DIRECTUS_TOKEN: stack.processorToken, METRICS_PORT: String(await freePort()) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const id = await waitFor(async () => /run ([0-9a-f-]{36})/.exec(stderr)?.[1], { what: 'the run id' });
    runs.push(id);
    await waitFor(async () => factRequests().length >= 2, { timeoutMs: 20_000, what: 'two refused deliveries' });

    child.kill('SIGINT');
    await waitFor(async () => stderr.includes('applying its changes, it ends on its own shortly'), { what: 'the answer to Ctrl-C' });
    expect((await run(id)).status).toBe('running');
    deploying = false;
    expect(await exited).toBe(0);
    expect((await run(id)).status).toBe('succeeded');
    expect((await crossingsInRange()).length).toBeGreaterThan(0);
  });

  it('stops retrying within a second of a forced cancel', async () => {
    proxy = new HttpStubProxy(stack.directusUrl, (req) => (req.path === '/pitwall/facts' ? { status: 404, body: routeNotFound } : null));
    await proxy.start();
    await startRunner();
    const id = await queueApply();
    await waitFor(async () => factRequests().length >= 4, { timeoutMs: 20_000, what: 'four refused deliveries' });

    const cancelled = await call(stack, `/pitwall/replay/${id}/cancel?force=true`, { token, method: 'POST' });
    expect(cancelled.json.run.status).toBe('cancelled');
    const at = performance.now();
    await waitFor(async () => !jobs!.runner.active.has(id), { timeoutMs: 5000, intervalMs: 20, what: 'the runner to let the run go' });
    expect(performance.now() - at).toBeLessThan(1500);
    const attempts = factRequests().length;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(factRequests()).toHaveLength(attempts);
    expect((await run(id)).status).toBe('cancelled');
    expect(await crossingsInRange()).toEqual([]);
  });
});
