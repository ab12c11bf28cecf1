import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import type { FactBatch } from '../../src/domain/pipeline/fact-batch.ts';
import { factId } from '../../src/domain/pipeline/fact-ids.ts';
import { factKey, type StageResultFact } from '../../src/domain/pipeline/facts.ts';
import { adminToken, call } from '../support/directus-client.ts';

const stack = inject('stack');
const event = demoId('event');
const ss1 = demoId('stage:ss1');
const t0 = Date.UTC(2026, 0, 12, 9, 0, 0, 0);
const finished = (entry: { id: string }, elapsedMs: number, penaltyMs = 0): StageResultFact => ({
  type: 'stage_result', key: factKey.stageResult(entry.id, ss1), entryId: entry.id, stageId: ss1, status: 'finished',
  startedAt: t0, finishedAt: t0 + elapsedMs, elapsedMs, penaltyMs, totalMs: elapsedMs + penaltyMs,
});
const facts = [finished(demoEntries[0]!, 100_000), finished(demoEntries[1]!, 95_000, 5_000), finished(demoEntries[2]!, 102_036)];

/** The classification endpoint on Directus 12 without a licence, read as a Race Control user (the third of 3 users). */
describe('GET /pitwall/classification on Directus 12', () => {
  let token: string;
  let steward: { id: string; token: string } | null = null;

  beforeAll(async () => {
    token = await adminToken(stack);
    const stored = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: `compat-${randomBytes(4).toString('hex')}`, source: 'live', upserts: facts, retractions: [] } satisfies FactBatch });
    expect(stored.status, stored.text).toBe(200);
    const role = (await call(stack, '/roles?filter[name][_eq]=Race Control&fields=id', { token })).json.data[0].id;
    const userToken = randomBytes(24).toString('hex');
    const user = await call(stack, '/users', { token, body: { email: `steward-${randomUUID().slice(0, 8)}@pitwall.example.com`, role, token: userToken, status: 'active' } });
    expect(user.status, user.text).toBe(200);
    steward = { id: user.json.data.id, token: userToken };
  });

  afterAll(async () => {
    if (steward) await call(stack, `/users/${steward.id}`, { token, method: 'DELETE' });
    await call(stack, '/items/stage_results', { token, method: 'DELETE', body: facts.map((f) => factId(f.key)) });
  });

  it('ranks with ties and gaps for a Race Control user, and refuses the anonymous', async () => {
    const res = await call(stack, `/pitwall/classification?event=${event}&stage=${ss1}`, { token: steward!.token });
    expect(res.status, res.text).toBe(200);
    expect(res.json.rows.map((r: any) => [r.race_number, r.rank, r.tied, r.total_ms, r.gap_to_leader_ms, r.gap_to_ahead_ms])).toEqual([
      [101, 1, true, 100_000, null, null],
      [102, 1, true, 100_000, 0, 0],
      [103, 3, false, 102_036, 2_036, 2_036],
    ]);
    const overall = await call(stack, `/pitwall/classification?event=${event}`, { token: steward!.token });
    expect(overall.status, overall.text).toBe(200);
    expect(overall.json.stages.map((s: { id: string }) => s.id)).toEqual([ss1]);
    expect(overall.json.rows).toHaveLength(3);
    expect((await call(stack, `/pitwall/classification?event=${event}`)).status).toBe(401);
  });
});
