import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stageCourses } from '../../src/demo/course.ts';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import type { FactBatch } from '../../src/domain/pipeline/fact-batch.ts';
import { factId } from '../../src/domain/pipeline/fact-ids.ts';
import { factKey, type StageResultFact } from '../../src/domain/pipeline/facts.ts';
import { adminToken, call } from '../support/directus-client.ts';

const stack = inject('stack');
const event = demoId('event');
const ss1 = demoId('stage:ss1');
const ss2 = demoId('stage:ss2');
const [e101, e102, e103, e104, e105, e106] = demoEntries as [typeof demoEntries[0], typeof demoEntries[0], typeof demoEntries[0], typeof demoEntries[0], typeof demoEntries[0], typeof demoEntries[0]];
const t0 = Date.UTC(2026, 0, 12, 9, 0, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();

const result = (entry: { id: string }, stage: string, status: StageResultFact['status'], elapsedMs: number | null = null, penaltyMs = 0, startedAt = t0): StageResultFact => ({
  type: 'stage_result', key: factKey.stageResult(entry.id, stage), entryId: entry.id, stageId: stage, status,
  startedAt, finishedAt: elapsedMs === null ? null : startedAt + elapsedMs, elapsedMs, penaltyMs, totalMs: elapsedMs === null ? null : elapsedMs + penaltyMs,
});
/**
 * SS1: #101 and #102 tie on 1:40.000 (#102 with a 5 s penalty), #103 1:42.036, #106 1:50.000, #104 running, #105 DNF.
 * SS2: #101, #102, #103 finished; #106 has not started it.
 */
const facts: StageResultFact[] = [
  result(e101, ss1, 'finished', 100_000),
  result(e102, ss1, 'finished', 95_000, 5_000, t0 + 60_000),
  result(e103, ss1, 'finished', 102_036, 0, t0 + 120_000),
  result(e104, ss1, 'running', null, 0, t0 + 180_000),
  result(e105, ss1, 'dnf', null, 0, t0 + 240_000),
  result(e106, ss1, 'finished', 110_000, 0, t0 + 300_000),
  result(e101, ss2, 'finished', 200_000),
  result(e102, ss2, 'finished', 201_500),
  result(e103, ss2, 'finished', 190_000),
];

/**
 * `GET /pitwall/classification` against the real Directus with the demo race: results handed in as the processor
 * hands them in (POST /pitwall/facts), read back ranked with ties and gaps, as admin and as a Race Control user.
 */
describe('GET /pitwall/classification', () => {
  let token: string;
  const users: { id: string; token: string }[] = [];
  let raceControl: { id: string; token: string };
  let nobody: { id: string; token: string };
  /** A second event, without stages. */
  let sister: string | null = null;
  /** As the admin unless told; null: anonymous. */
  const get = (query: string, as: string | null = token) => call(stack, `/pitwall/classification${query}`, as === null ? {} : { token: as });

  async function user(role: string | null): Promise<{ id: string; token: string }> {
    const userToken = randomBytes(24).toString('hex');
    const created = await call(stack, '/users', { token, body: { email: `classification-${randomUUID().slice(0, 8)}@pitwall.example.com`, role, token: userToken, status: 'active' } });
    expect(created.status, created.text).toBe(200);
    users.push({ id: created.json.data.id, token: userToken });
    return users.at(-1)!;
  }

  beforeAll(async () => {
    token = await adminToken(stack);
    const role = (await call(stack, '/roles?filter[name][_eq]=Race Control&fields=id', { token })).json.data[0].id;
    raceControl = await user(role);
    // A user without a role: Directus lets it read none of the race.
    nobody = await user(null);
    const created = await call(stack, '/items/events', {
      token, body: { name: 'Sister event', slug: `sister-${randomUUID().slice(0, 8)}`, starts_at: iso(t0), ends_at: iso(t0 + 86_400_000), status: 'draft' },
    });
    expect(created.status, created.text).toBe(200);
    sister = created.json.data.id;
    const stored = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: `classification-${randomBytes(4).toString('hex')}`, source: 'live', upserts: facts, retractions: [] } satisfies FactBatch });
    expect(stored.status, stored.text).toBe(200);
  });

  afterAll(async () => {
    for (const u of users) await call(stack, `/users/${u.id}`, { token, method: 'DELETE' });
    await call(stack, '/items/stage_results', { token, method: 'DELETE', body: facts.map((f) => factId(f.key)) });
    if (sister) await call(stack, `/items/events/${sister}`, { token, method: 'DELETE' });
  });

  it('classifies a stage from its stored results: ties as ties, gaps to the leader and the car ahead, then running, then DNF', async () => {
    const before = Date.now();
    const res = await get(`?event=${event}&stage=${ss1}`);
    expect(res.status, res.text).toBe(200);
    expect(res.json.kind).toBe('stage');
    expect(res.json.event).toEqual({ id: event, name: 'Pitwall Desert Rally (demo)' });
    expect(res.json.stage).toMatchObject({ id: ss1, name: stageCourses.find((c) => c.key === 'ss1')!.name, sort_order: 1 });
    expect(Date.parse(res.json.computed_at)).toBeGreaterThanOrEqual(before - 1000);
    expect(res.json.rows.map((r: any) => [r.race_number, r.rank, r.tied, r.status, r.total_ms, r.gap_to_leader_ms, r.gap_to_ahead_ms])).toEqual([
      [101, 1, true, 'finished', 100_000, null, null],
      [102, 1, true, 'finished', 100_000, 0, 0],
      [103, 3, false, 'finished', 102_036, 2_036, 2_036],
      [106, 4, false, 'finished', 110_000, 10_000, 7_964],
      [104, null, false, 'running', null, null, null],
      [105, null, false, 'dnf', null, null, null],
    ]);
    expect(res.json.rows[1]).toEqual({
      entry: e102.id, race_number: 102, name: e102.name, category: 'T1', rank: 1, tied: true, status: 'finished',
      started_at: iso(t0 + 60_000), finished_at: iso(t0 + 60_000 + 95_000), elapsed_ms: 95_000, penalty_ms: 5_000, total_ms: 100_000,
      gap_to_leader_ms: 0, gap_to_ahead_ms: 0,
    });
    // The same ranks as the ones the facts endpoint stored (both come from src/domain/timing).
    const stored = (await call(stack, `/items/stage_results?filter[stage][_eq]=${ss1}&fields=entry,rank&limit=-1`, { token })).json.data;
    expect(Object.fromEntries(res.json.rows.map((r: any) => [r.entry, r.rank]))).toEqual(Object.fromEntries(stored.map((r: any) => [r.entry, r.rank])));
  });

  it('classifies the event overall after the stages run so far, with the entries that have not finished every stage apart', async () => {
    const res = await get(`?event=${event}`);
    expect(res.status, res.text).toBe(200);
    expect(res.json.kind).toBe('overall');
    expect(res.json.stages.map((s: any) => s.id)).toEqual([ss1, ss2]);
    // #103: 1:42.036 + 3:10.000; #101: 1:40.000 + 3:20.000; #102: 1:40.000 (5 s penalty) + 3:21.500.
    expect(res.json.rows.map((r: any) => [r.race_number, r.rank, r.tied, r.stages_finished, r.total_ms, r.penalty_ms, r.gap_to_leader_ms, r.gap_to_ahead_ms])).toEqual([
      [103, 1, false, 2, 292_036, 0, null, null],
      [101, 2, false, 2, 300_000, 0, 7_964, 7_964],
      [102, 3, false, 2, 301_500, 5_000, 9_464, 1_500],
    ]);
    expect(res.json.incomplete.map((r: any) => [r.race_number, r.rank, r.stages_finished, r.total_ms])).toEqual([
      [106, null, 1, 110_000],
      [104, null, 0, 0],
      [105, null, 0, 0],
    ]);
  });

  it('reads as the caller: a Race Control user gets the same classification', async () => {
    const asAdmin = await get(`?event=${event}&stage=${ss1}`);
    const asRaceControl = await get(`?event=${event}&stage=${ss1}`, raceControl.token);
    expect(asRaceControl.status, asRaceControl.text).toBe(200);
    expect({ ...asRaceControl.json, computed_at: null }).toEqual({ ...asAdmin.json, computed_at: null });
  });

  it('answers 401 to an anonymous caller and 403 to a user Directus lets read none of it', async () => {
    const anonymous = await get(`?event=${event}&stage=${ss1}`, null);
    expect(anonymous.status, anonymous.text).toBe(401);
    expect(anonymous.json.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    for (const query of [`?event=${event}&stage=${ss1}`, `?event=${event}`]) {
      const refused = await get(query, nobody.token);
      expect(refused.status, refused.text).toBe(403);
      expect(refused.json.errors[0].extensions.code).toBe('FORBIDDEN');
    }
  });

  it('answers 400 naming the parameter for a missing or malformed id, and 404 for an event or stage it cannot find', async () => {
    for (const [query, field] of [['', 'event'], ['?event=SS1', 'event'], [`?event=${event}&stage=ss1`, 'stage'], [`?event=${event}&stage=`, 'stage']] as const) {
      const res = await get(query);
      expect(res.status, `${query}: ${res.text}`).toBe(400);
      expect(res.json.errors[0].extensions.code).toBe('INVALID_PAYLOAD');
      expect(res.json.errors[0].extensions.reason).toMatch(new RegExp(`^${field}: `));
    }
    // What is wrong, said plainly: not there, or there twice.
    expect((await get('')).json.errors[0].extensions.reason).toBe('event: is required');
    expect((await get(`?event=${event}&event=${sister}`)).json.errors[0].extensions.reason).toBe('event: give one event, not a list (2 given)');
    // `event[]=` is a list too, even of one.
    expect((await get(`?event[]=${event}`)).json.errors[0].extensions.reason).toBe('event: give one event, not a list (1 given)');
    expect((await get('?event=SS1')).json.errors[0].extensions.reason).toBe('event: expected a uuid, got "SS1"');
    const noEvent = await get(`?event=${randomUUID()}`);
    expect(noEvent.status, noEvent.text).toBe(404);
    expect(noEvent.json.errors[0].extensions.code).toBe('PITWALL_NOT_FOUND');
    // A stage that does not exist, and one of another event.
    for (const query of [`?event=${event}&stage=${randomUUID()}`, `?event=${sister}&stage=${ss1}`]) {
      const res = await get(query);
      expect(res.status, `${query}: ${res.text}`).toBe(404);
      expect(res.json.errors[0].extensions.code).toBe('PITWALL_NOT_FOUND');
    }
    // An event without stages has an empty overall classification.
    const empty = await get(`?event=${sister}`);
    expect(empty.status, empty.text).toBe(200);
    expect(empty.json).toMatchObject({ kind: 'overall', stages: [], rows: [], incomplete: [] });
  });
});
