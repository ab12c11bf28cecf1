import { randomBytes, randomUUID } from 'node:crypto';
import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import type { FactBatch } from '../../src/domain/pipeline/fact-batch.ts';
import { factId } from '../../src/domain/pipeline/fact-ids.ts';
import { factKey, type StageResultFact } from '../../src/domain/pipeline/facts.ts';
import { adminToken, call } from '../support/directus-client.ts';

const stack = inject('stack');
const stage = demoId('stage:ss2');
const t0 = Date.UTC(2026, 0, 10, 11, 0, 0, 0);

const result = (entryId: string, totalMs: number): StageResultFact => ({
  type: 'stage_result', key: factKey.stageResult(entryId, stage), entryId, stageId: stage, status: 'finished',
  startedAt: t0, finishedAt: t0 + totalMs, elapsedMs: totalMs, penaltyMs: 0, totalMs,
});
/** A POST sent again while Directus sheds it under load (503, its pressure limiter), as the courier would. */
async function postUntilHeard(token: string, body: unknown): Promise<{ status: number; text: string }> {
  for (;;) {
    const res = await call(stack, '/pitwall/facts', { token, body });
    if (res.status !== 503) return res;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
const batch = (upserts: FactBatch['upserts']): FactBatch => ({ batch: `callers-${randomBytes(4).toString('hex')}`, source: 'live', upserts, retractions: [] });

/**
 * Who may hand facts in: the processor's role and admins. Anyone else is refused before the endpoint locks or reads
 * anything, so a race office account calling it in a loop (a script, a misconfigured integration) cannot hold up
 * live timing.
 */
describe('POST /pitwall/facts and its callers', () => {
  let token: string;
  let raceControl: { id: string; token: string };
  const live = demoEntries.slice(0, 3);

  beforeAll(async () => {
    token = await adminToken(stack);
    // Directus 12 allows three users: the admin, the processor and this one, deleted afterwards.
    const role = (await call(stack, '/roles?filter[name][_eq]=Race Control&fields=id', { token })).json.data[0].id;
    const userToken = randomBytes(24).toString('hex');
    const user = await call(stack, '/users', { token, body: { email: `steward-${randomUUID().slice(0, 8)}@pitwall.example.com`, role, token: userToken, status: 'active' } });
    expect(user.status, user.text).toBe(200);
    raceControl = { id: user.json.data.id, token: userToken };
  });

  afterAll(async () => {
    await call(stack, `/users/${raceControl.id}`, { token, method: 'DELETE' });
    await call(stack, '/items/stage_results', { token, method: 'DELETE', body: live.map((e) => factId(factKey.stageResult(e.id, stage))) });
  });

  it('refuses a Race Control user with 403 (it may read results, not write them), and writes nothing', async () => {
    const res = await call(stack, '/pitwall/facts', { token: raceControl.token, body: batch([result(live[0]!.id, 600_000)]) });
    expect(res.status, res.text).toBe(403);
    // Refused before the body is even looked at.
    expect((await call(stack, '/pitwall/facts', { token: raceControl.token, body: { not: 'a batch' } })).status).toBe(403);
    expect((await call(stack, `/items/stage_results/${factId(result(live[0]!.id, 0).key)}`, { token })).status).toBe(403);
  });

  it('refuses a Race Control user without waiting for the ranking lock that live facts take', async () => {
    const heavy = batch(Array.from({ length: 200 }, (_, i) => result(randomUUID(), 500_000 + i)));
    const lock = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 1, max: 1 } });
    try {
      // Held the way a long fact batch holds it (fact-versions.ts lockRanking), on one connection of our own.
      await lock.raw('SELECT pg_advisory_lock(hashtext(?))', ['pitwall:stage_results:rank']);
      const processor = postUntilHeard(stack.processorToken, batch(live.map((e, k) => result(e.id, 600_000 + k * 1000))));
      const answered = (what: Promise<{ status: number }>, ms: number) =>
        Promise.race([what.then((res) => res.status), new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), ms))]);
      expect(await answered(postUntilHeard(raceControl.token, heavy), 4000)).toBe(403);
      // The lock is the real one: the processor's batch waits for it.
      expect(await answered(processor, 500)).toBe('waiting');
      await lock.raw('SELECT pg_advisory_unlock(hashtext(?))', ['pitwall:stage_results:rank']);
      expect((await processor).status).toBe(200);
    } finally {
      await lock.destroy();
    }
  });

  it("while a Race Control user hammers it, the processor's live facts still apply", async () => {
    // Heavy, valid batches: were they let in, each would take the ranking lock and read a stage's results.
    const heavy = batch(Array.from({ length: 1500 }, (_, i) => result(randomUUID(), 500_000 + i)));
    const hammer: number[] = [];
    let hammering = true;
    const loops = Array.from({ length: 6 }, async () => {
      while (hammering) hammer.push((await call(stack, '/pitwall/facts', { token: raceControl.token, body: heavy })).status);
    });
    const latencies: number[] = [];
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (let i = 0; i < 8; i++) {
        const started = performance.now();
        const body = batch(live.map((e, k) => result(e.id, 600_000 + k * 1000 + i)));
        const res = await postUntilHeard(stack.processorToken, body);
        latencies.push(performance.now() - started);
        expect(res.status, res.text).toBe(200);
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    } finally {
      hammering = false;
      await Promise.all(loops);
    }
    expect(hammer.length).toBeGreaterThan(20);
    // Refused, every one: 403, or 503 when Directus's pressure limiter shed the request on a busy machine.
    expect(hammer.filter((status) => status === 403).length).toBeGreaterThan(10);
    expect(hammer.filter((status) => status !== 403 && status !== 503)).toEqual([]);
    // Generous, as the machine may be busy: before the early refusal these took 1.2 to 3 s on an idle machine.
    expect(Math.max(...latencies), `processor batches took ${latencies.map(Math.round).join(', ')} ms`).toBeLessThan(5000);
    const stored = await call(stack, `/items/stage_results?filter[stage][_eq]=${stage}&filter[entry][_in]=${live.map((e) => e.id).join(',')}&fields=entry,total_ms&sort=total_ms`, { token });
    expect(stored.json.data).toEqual(live.map((e, k) => ({ entry: e.id, total_ms: 600_000 + k * 1000 + 7 })));
  });
});
