import { randomBytes, randomUUID } from 'node:crypto';
import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import type { FactBatch } from '../../src/domain/pipeline/fact-batch.ts';
import { factId } from '../../src/domain/pipeline/fact-ids.ts';
import { factKey, type CrossingFact, type PenaltyFact, type StageResultFact } from '../../src/domain/pipeline/facts.ts';
import { raceControlPermissions } from '../../src/setup/race-control-role.ts';
import { adminToken, call, importFile } from '../support/directus-client.ts';
import { FUTURE_RACE_SKEW_MS, runSetupAgain } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const event = demoId('event');
const stage = demoId('stage:ss2');
const startGate = demoId('geofence:ss2:start');
const finishGate = demoId('geofence:ss2:finish');
// Entries no other test times on this stage.
const crews = [demoEntries[10]!, demoEntries[11]!, demoEntries[12]!];
const t0 = Date.UTC(2026, 0, 14, 9, 0, 0, 0);
/** #111 3:20.000, #112 3:21.500, #113 3:23.000 on SS2. */
const elapsed = [200_000, 201_500, 203_000];

const crossing = (entry: (typeof crews)[number], gate: string, kind: 'start' | 'finish', at: number): CrossingFact => ({
  type: 'crossing', key: factKey.crossing(entry.id, gate, at), entryId: entry.id, stageId: stage, gateId: gate, deviceId: entry.imei, kind, crossedAt: at, speedKmh: 90,
});
const starts = crews.map((entry, i) => crossing(entry, startGate, 'start', t0 + i * 60_000));
const finishes = crews.map((entry, i) => crossing(entry, finishGate, 'finish', t0 + i * 60_000 + elapsed[i]!));
const results: StageResultFact[] = crews.map((entry, i) => ({
  type: 'stage_result', key: factKey.stageResult(entry.id, stage), entryId: entry.id, stageId: stage, status: 'finished',
  startedAt: t0 + i * 60_000, finishedAt: t0 + i * 60_000 + elapsed[i]!, elapsedMs: elapsed[i]!, penaltyMs: 0, totalMs: elapsed[i]!,
}));

/**
 * A Race Control user (the race office: director, stewards, timekeepers) against the real Directus: it reads timing and
 * the dashboard, adds and lifts penalties, corrects a crossing, previews a replay, and nothing else.
 */
describe('the Race Control role', () => {
  let token: string;
  let roleId: string;
  let user: { id: string; token: string };
  const runs: string[] = [];
  const cleanup: (() => Promise<unknown>)[] = [];

  /** Ranks, totals and gaps of the three crews, as the Race Control user reads them. */
  const standings = async () => {
    const res = await call(stack, `/items/stage_results?filter[stage][_eq]=${stage}&filter[entry][_in]=${crews.map((c) => c.id).join(',')}&fields=entry,rank,total_ms,gap_ms&limit=-1`, { token: user.token });
    expect(res.status, res.text).toBe(200);
    const byEntry = new Map((res.json.data as { entry: string; rank: number; total_ms: number; gap_ms: number | null }[]).map((r) => [r.entry, r]));
    return crews.map((c) => {
      const r = byEntry.get(c.id);
      return [r?.rank ?? null, r?.total_ms ?? null, r?.gap_ms ?? null];
    });
  };

  beforeAll(async () => {
    token = await adminToken(stack);
    roleId = (await call(stack, '/roles?filter[name][_eq]=Race Control&fields=id', { token })).json.data[0].id;
    // Directus 12 allows three users: the admin, the processor and this one, deleted afterwards.
    const userToken = randomBytes(24).toString('hex');
    const created = await call(stack, '/users', { token, body: { email: `timekeeper-${randomUUID().slice(0, 8)}@pitwall.example.com`, role: roleId, token: userToken, status: 'active' } });
    expect(created.status, created.text).toBe(200);
    user = { id: created.json.data.id, token: userToken };
    const batch: FactBatch = { batch: `race-control-${randomBytes(4).toString('hex')}`, source: 'live', upserts: [...starts, ...finishes, ...results], retractions: [] };
    const stored = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: batch });
    expect(stored.status, stored.text).toBe(200);
  });

  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
    await call(stack, `/users/${user.id}`, { token, method: 'DELETE' });
    for (const id of runs) await call(stack, `/items/replay_runs/${id}`, { token, method: 'DELETE' });
    const penalties = (await call(stack, `/items/entry_penalties?filter[entry][_in]=${crews.map((c) => c.id).join(',')}&fields=id&limit=-1`, { token })).json.data as { id: string }[];
    if (penalties.length > 0) await call(stack, '/items/entry_penalties', { token, method: 'DELETE', body: penalties.map((p) => p.id) });
    await call(stack, '/items/entry_crossings', { token, method: 'DELETE', body: [...starts, ...finishes].map((c) => factId(c.key)) });
    await call(stack, '/items/stage_results', { token, method: 'DELETE', body: results.map((r) => factId(r.key)) });
    const events = (await call(stack, `/items/race_events?filter[entry][_in]=${crews.map((c) => c.id).join(',')}&fields=id&limit=-1`, { token })).json.data as { id: string }[];
    if (events.length > 0) await call(stack, '/items/race_events', { token, method: 'DELETE', body: events.map((e) => e.id) });
  });

  it('has app access and exactly the permissions Pitwall gives it', async () => {
    const policy = (await call(stack, '/policies?filter[name][_eq]=Race Control&fields=id,admin_access,app_access', { token })).json.data[0];
    expect(policy).toMatchObject({ admin_access: false, app_access: true });
    const granted = (await call(stack, `/permissions?filter[policy][_eq]=${policy.id}&fields=collection,action,fields,permissions&limit=-1`, { token })).json.data as any[];
    expect(granted.map((p) => `${p.action} ${p.collection} ${p.fields.join(',')} ${JSON.stringify(p.permissions ?? {})}`).sort()).toEqual(
      raceControlPermissions().map(({ collection, action }) => `${action} ${collection} * {}`).sort(),
    );
  });

  it('reads the race setup, timing, anomalies, race events and runs, and opens the Race Control dashboard', async () => {
    for (const collection of ['events', 'stages', 'entries', 'entry_devices', 'devices', 'geofences', 'waypoints', 'penalty_formulas', 'entry_crossings', 'stage_results', 'entry_penalties', 'anomalies', 'race_events', 'replay_runs']) {
      const res = await call(stack, `/items/${collection}?limit=1`, { token: user.token });
      expect(res.status, `${collection}: ${res.text}`).toBe(200);
    }
    // Race events are the record: a Race Control user may not write one, whatever its type (403, not the type catalogue).
    for (const type of ['x', 'anomaly.detected']) expect((await call(stack, '/items/race_events', { token: user.token, body: { type } })).status).toBe(403);
    const dashboards = await call(stack, '/dashboards?filter[name][_eq]=Race Control&fields=id,name,panels.type', { token: user.token });
    expect(dashboards.status, dashboards.text).toBe(200);
    expect(dashboards.json.data).toHaveLength(1);
    expect(dashboards.json.data[0].panels.map((p: { type: string }) => p.type).sort()).toEqual(['list', 'pitwall-classification', 'pitwall-health', 'pitwall-live-map', 'pitwall-replay']);
    // What the dashboard's panels read: the classification, the processors' health, the anomalies list's own query.
    expect((await call(stack, `/pitwall/classification?event=${event}&stage=${stage}`, { token: user.token })).status).toBe(200);
    expect((await call(stack, '/pitwall/status', { token: user.token })).status).toBe(200);
    expect((await call(stack, '/items/anomalies?fields=id,kind,severity,started_at,entry.race_number,entry.name&sort=-started_at&limit=15', { token: user.token })).status).toBe(200);
  });

  it('reads each result with its rank and its gap to the stage leader', async () => {
    expect(await standings()).toEqual([
      [1, 200_000, null],
      [2, 201_500, 1_500],
      [3, 203_000, 3_000],
    ]);
  });

  it('adds a penalty and lifts it: total, rank and gap follow each time', async () => {
    const added = await call(stack, '/items/entry_penalties', { token: user.token, body: { entry: crews[0]!.id, stage, kind: 'manual', amount_ms: 2_000, reason: 'Jump start, stewards’ decision 12' } });
    expect(added.status, added.text).toBe(200);
    expect(added.json.data).toMatchObject({ kind: 'manual', amount_ms: 2_000, reason: 'Jump start, stewards’ decision 12' });
    const expected = [
      [2, 202_000, 500],
      [1, 201_500, null],
      [3, 203_000, 1_500],
    ];
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify(expected), { timeoutMs: 10_000, intervalMs: 200, what: 'the penalty in total, rank and gap' });

    expect((await call(stack, `/items/entry_penalties/${added.json.data.id}`, { token: user.token, method: 'PATCH', body: { amount_ms: 5_000 } })).status).toBe(200);
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[3, 205_000, 3_500], [1, 201_500, null], [2, 203_000, 1_500]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the changed penalty' });

    expect((await call(stack, `/items/entry_penalties/${added.json.data.id}`, { token: user.token, method: 'DELETE' })).status).toBe(204);
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[1, 200_000, null], [2, 201_500, 1_500], [3, 203_000, 3_000]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the lifted penalty' });
  });

  it('announces the result whose time moved, not every result whose gap moved with it', async () => {
    const events = async (entry: string) =>
      ((await call(stack, `/items/race_events?filter[type][_eq]=stage.result.computed&filter[entry][_eq]=${entry}&fields=id,payload&limit=-1`, { token })).json.data as any[]).length;
    const before = await Promise.all(crews.map((c) => events(c.id)));
    // 1 s on the leader: #111 stays first (3:21.000 against 3:21.500), the gaps of #112 and #113 shrink by 1 s.
    const added = await call(stack, '/items/entry_penalties', { token: user.token, body: { entry: crews[0]!.id, stage, kind: 'manual', amount_ms: 1_000 } });
    expect(added.status, added.text).toBe(200);
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[1, 201_000, null], [2, 201_500, 500], [3, 203_000, 2_000]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the gaps after a penalty on the leader' });
    await waitFor(async () => (await events(crews[0]!.id)) === before[0]! + 1, { timeoutMs: 10_000, intervalMs: 200, what: 'the leader’s stage.result.computed' });
    expect(await Promise.all(crews.slice(1).map((c) => events(c.id)))).toEqual(before.slice(1));
    expect((await call(stack, `/items/entry_penalties/${added.json.data.id}`, { token: user.token, method: 'DELETE' })).status).toBe(204);
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[1, 200_000, null], [2, 201_500, 1_500], [3, 203_000, 3_000]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the lifted penalty' });
  });

  it('imports penalties from a CSV file: each result they touch is timed again once the import has committed', async () => {
    // Directus announces an import's rows before it commits; the re-timing must still see them.
    const csv = ['entry,stage,kind,amount_ms', `${crews[0]!.id},${stage},manual,2000`, `${crews[1]!.id},${stage},manual,3000`].join('\n');
    const imported = await importFile(stack, 'entry_penalties', { text: csv, type: 'text/csv' }, user.token);
    expect(imported.status, imported.text).toBe(200);
    // #111 3:22.000, #113 3:23.000, #112 3:24.500.
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[1, 202_000, null], [3, 204_500, 2_500], [2, 203_000, 1_000]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the imported penalties in totals, ranks and gaps' });
    // The same file imported a second time (the button pressed twice): refused, naming the reason; nothing doubled.
    const again = await importFile(stack, 'entry_penalties', { text: csv, type: 'text/csv' }, user.token);
    expect(again.status, again.text).toBe(400);
    expect(JSON.parse(again.text).errors[0].extensions.reason).toMatch(/^reason: the entry already has this manual penalty in the stage, with the same amount and no reason \(.*\): a second one given on purpose needs its own reason/);
    // Given on purpose, with a reason of its own, a second one counts.
    const second = await call(stack, '/items/entry_penalties', { token: user.token, body: { entry: crews[0]!.id, stage, kind: 'manual', amount_ms: 2_000, reason: 'Stewards’ decision 14' } });
    expect(second.status, second.text).toBe(200);
    expect((await call(stack, `/items/entry_penalties/${second.json.data.id}`, { token: user.token, method: 'DELETE' })).status).toBe(204);
    const penalties = (await call(stack, `/items/entry_penalties?filter[entry][_in]=${crews.map((c) => c.id).join(',')}&fields=id&limit=-1`, { token: user.token })).json.data as { id: string }[];
    expect(penalties).toHaveLength(2);
    expect((await call(stack, '/items/entry_penalties', { token: user.token, method: 'DELETE', body: penalties.map((p) => p.id) })).status).toBe(204);
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[1, 200_000, null], [2, 201_500, 1_500], [3, 203_000, 3_000]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the lifted penalties' });
  });

  it('is told which field is wrong when a penalty cannot be counted right, also in a CSV import, which is answered at once', async () => {
    const penalty = (changes: Record<string, unknown>) => ({ entry: crews[0]!.id, stage, kind: 'manual', amount_ms: 1_000, ...changes });
    const refusals: [Record<string, unknown>, string][] = [
      [{ kind: 'speeding' }, 'kind'],
      [{ amount_ms: 'abc' }, 'amount_ms'],
      [{ amount_ms: 1.5 }, 'amount_ms'],
      [{ amount_ms: -5_000 }, 'amount_ms'],
      [{ amount_ms: 2_147_483_647 }, 'amount_ms'],
    ];
    for (const [changes, field] of refusals) {
      const answer = await call(stack, '/items/entry_penalties', { token: user.token, body: penalty(changes) });
      expect(answer.status, answer.text).toBe(400);
      expect(answer.json.errors[0].extensions.issues[0].path).toEqual([field]);
    }
    // Directus's own check of the empty amount would leave this import unanswered (see import-stall.test.ts).
    const started = performance.now();
    const csv = ['entry,stage,kind,amount_ms', `${crews[0]!.id},${stage},manual,2000`, `${crews[1]!.id},${stage},manual,`].join('\n');
    const imported = await importFile(stack, 'entry_penalties', { text: csv, type: 'text/csv' }, user.token);
    expect(imported.status, imported.text).toBe(400);
    expect(JSON.parse(imported.text).errors[0].extensions.reason).toBe('amount_ms: amount_ms is required for a new penalty');
    expect(performance.now() - started).toBeLessThan(10_000);

    const added = await call(stack, '/items/entry_penalties', { token: user.token, body: penalty({ details: { reason: 'jump start' } }) });
    expect(added.status, added.text).toBe(200);
    const changed = await call(stack, `/items/entry_penalties/${added.json.data.id}`, { token: user.token, method: 'PATCH', body: { kind: 'missed_waypoint' } });
    expect(changed.status, changed.text).toBe(400);
    expect(changed.json.errors[0].extensions.issues[0].path).toEqual(['kind']);
    expect((await call(stack, `/items/entry_penalties/${added.json.data.id}`, { token: user.token, method: 'DELETE' })).status).toBe(204);
    // Penalties of a hundred hours each, the most one may be: the sixth would take the result past what it holds,
    // and its re-timing (and every fact batch about the entry) would fail on every try.
    const heavy: string[] = [];
    for (let i = 0; i < 5; i++) {
      const one = await call(stack, '/items/entry_penalties', { token: user.token, body: penalty({ amount_ms: 360_000_000, reason: `Stewards’ decision ${i}` }) });
      expect(one.status, one.text).toBe(200);
      heavy.push(one.json.data.id);
    }
    const sixth = await call(stack, '/items/entry_penalties', { token: user.token, body: penalty({ amount_ms: 360_000_000, reason: 'Stewards’ decision 5' }) });
    expect(sixth.status, sixth.text).toBe(400);
    expect(sixth.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['amount_ms'], message: expect.stringMatching(/^with this penalty the entry's stage total would be 2160200000 ms, more than a result holds/) });
    // Waived, it counts for nothing, and so fits.
    const waived = await call(stack, '/items/entry_penalties', { token: user.token, body: penalty({ amount_ms: 360_000_000, waived: true, waived_reason: 'test' }) });
    expect(waived.status, waived.text).toBe(200);
    heavy.push(waived.json.data.id);
    expect((await call(stack, '/items/entry_penalties', { token: user.token, method: 'DELETE', body: heavy })).status).toBe(204);
    // A penalty the pipeline computed is its own: it writes it again when it next times the entry, so a change by
    // hand is refused rather than undone later without a word.
    const computed = { id: randomUUID(), entry: crews[0]!.id, stage, kind: 'speeding', amount_ms: 52_573 };
    const db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 1 } });
    try {
      await db('entry_penalties').insert(computed);
      const lowered = await call(stack, `/items/entry_penalties/${computed.id}`, { token: user.token, method: 'PATCH', body: { amount_ms: 1_000 } });
      expect(lowered.status, lowered.text).toBe(400);
      expect(lowered.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['amount_ms'], message: expect.stringMatching(/^this speeding penalty is computed by the pipeline/) });
      expect((await db('entry_penalties').where({ id: computed.id }).first('amount_ms')).amount_ms).toBe(52_573);
    } finally {
      await db('entry_penalties').where({ id: computed.id }).delete();
      await db.destroy();
    }
    const left = (await call(stack, `/items/entry_penalties?filter[entry][_in]=${crews.map((c) => c.id).join(',')}&fields=id&limit=-1`, { token })).json.data;
    expect(left).toEqual([]);
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[1, 200_000, null], [2, 201_500, 1_500], [3, 203_000, 3_000]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the standings as they were' });
  });

  it('waives a computed penalty: the result stops counting it, and the pipeline writing it again leaves the waiver', async () => {
    // The pipeline times #112 with a speeding penalty of 30 s: 3:51.500, last.
    const speeding = (amountMs: number): PenaltyFact => ({
      type: 'penalty', key: factKey.penalty(crews[1]!.id, stage, 'speeding', 'zone-1:1'), entryId: crews[1]!.id, stageId: stage, kind: 'speeding', amountMs, details: { zone: 'zone-1' },
    });
    const timed = (penaltyMs: number): StageResultFact => ({ ...results[1]!, penaltyMs, totalMs: elapsed[1]! + penaltyMs });
    const pipeline = async (upserts: FactBatch['upserts'], retractions: string[] = []) => {
      const answer = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: `waiver-${randomBytes(4).toString('hex')}`, source: 'live', upserts, retractions } });
      expect(answer.status, answer.text).toBe(200);
    };
    const id = factId(speeding(0).key);
    const stored = async () => (await call(stack, `/items/entry_penalties/${id}?fields=amount_ms,waived,waived_reason`, { token: user.token })).json.data;
    await pipeline([speeding(30_000), timed(30_000)]);
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[1, 200_000, null], [3, 231_500, 31_500], [2, 203_000, 3_000]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the computed penalty' });

    // Deleted by hand it would come back with the next timing: refused, naming waiving.
    const deleted = await call(stack, `/items/entry_penalties/${id}`, { token: user.token, method: 'DELETE' });
    expect(deleted.status, deleted.text).toBe(400);
    expect(deleted.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['kind'], message: expect.stringMatching(/^this speeding penalty is computed by the pipeline: to lift it, set waived with the reason .*Deleted by hand it would come back/) });
    // In a delete of several (the app's bulk delete), the computed one is named as the app lists it; nothing is deleted.
    const own = await call(stack, '/items/entry_penalties', { token: user.token, body: { entry: crews[0]!.id, stage, kind: 'manual', amount_ms: 1_000 } });
    expect(own.status, own.text).toBe(200);
    const both = await call(stack, '/items/entry_penalties', { token: user.token, method: 'DELETE', body: [own.json.data.id, id] });
    expect(both.status, both.text).toBe(400);
    expect(both.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['kind'], message: expect.stringMatching(/^1 of the 2 penalties are computed by the pipeline \(#112 speeding in SS2 Merzouga – Taouz\): delete the others without them/) });
    expect((await call(stack, '/items/entry_penalties', { token: user.token, method: 'DELETE', body: [own.json.data.id] })).status).toBe(204);

    // Not without the reason: a lifted penalty with no word of why is no decision anyone can check.
    const silent = await call(stack, `/items/entry_penalties/${id}`, { token: user.token, method: 'PATCH', body: { waived: true, waived_reason: ' ' } });
    expect(silent.status, silent.text).toBe(400);
    // Nor as any other value Postgres stores as true.
    const yes = await call(stack, `/items/entry_penalties/${id}`, { token: user.token, method: 'PATCH', body: { waived: 'yes' } });
    expect(yes.status, yes.text).toBe(400);
    expect(yes.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['waived_reason'] });
    expect(silent.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['waived_reason'], message: "a waiver needs its reason in waived_reason, for example the stewards' decision number" });
    const waived = await call(stack, `/items/entry_penalties/${id}`, { token: user.token, method: 'PATCH', body: { waived: true, waived_reason: 'Stewards decision 12: radar fault' } });
    expect(waived.status, waived.text).toBe(200);
    // The reason cleared afterwards would leave a waiver nobody can check.
    for (const reason of [null, '']) {
      const cleared = await call(stack, `/items/entry_penalties/${id}`, { token: user.token, method: 'PATCH', body: { waived_reason: reason } });
      expect(cleared.status, cleared.text).toBe(400);
      expect(cleared.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['waived_reason'] });
    }
    const unpenalised = [[1, 200_000, null], [2, 201_500, 1_500], [3, 203_000, 3_000]];
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify(unpenalised), { timeoutMs: 10_000, intervalMs: 200, what: 'the waived penalty out of the total' });

    // The pipeline writes the result again (the penalty unchanged, so not in its batch): the stored amount is taken out.
    await pipeline([timed(30_000)]);
    expect(await standings()).toEqual(unpenalised);
    // A late fix: the pipeline times the zone again, 35 s now, and writes the penalty and the result again.
    await pipeline([speeding(35_000), timed(35_000)]);
    expect(await stored()).toEqual({ amount_ms: 35_000, waived: true, waived_reason: 'Stewards decision 12: radar fault' });
    expect(await standings()).toEqual(unpenalised);
    // A replay applied after the penalty formula changed stores 70 s for it (the waiver kept); the live pipeline, which
    // still counts its own 35 s, then writes the result: the penalty stays lifted. It became -35 s, a bonus.
    const replayed = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: `replay-${randomBytes(4).toString('hex')}`, source: 'replay', upserts: [speeding(70_000)], retractions: [] } });
    expect(replayed.status, replayed.text).toBe(200);
    expect(await stored()).toEqual({ amount_ms: 70_000, waived: true, waived_reason: 'Stewards decision 12: radar fault' });
    await pipeline([timed(35_000)]);
    expect(await standings()).toEqual(unpenalised);
    await pipeline([speeding(35_000), timed(35_000)]);

    // Counted again once the waiver is cleared.
    expect((await call(stack, `/items/entry_penalties/${id}`, { token: user.token, method: 'PATCH', body: { waived: false } })).status).toBe(200);
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[1, 200_000, null], [3, 236_500, 36_500], [2, 203_000, 3_000]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the penalty counted again' });

    // The pipeline no longer computes it (a replay with the zone moved): gone, and the result as it was.
    await pipeline([results[1]!], [speeding(0).key]);
    expect((await call(stack, `/items/entry_penalties/${id}`, { token })).status).toBe(403);
    expect(await standings()).toEqual(unpenalised);
  });

  it('corrects a crossing by hand: the result is timed again; a time that is no date is refused naming the field', async () => {
    const id = factId(finishes[2]!.key);
    for (const crossedAt of ['abc', '2026-02-30T10:00:00Z', 12_345]) {
      const refused = await call(stack, `/items/entry_crossings/${id}`, { token: user.token, method: 'PATCH', body: { crossed_at: crossedAt } });
      expect(refused.status, refused.text).toBe(400);
      expect(refused.json.errors[0].extensions.issues[0].path).toEqual(['crossed_at']);
    }
    const corrected = new Date(finishes[2]!.crossedAt - 4_000).toISOString();
    const res = await call(stack, `/items/entry_crossings/${id}`, { token: user.token, method: 'PATCH', body: { crossed_at: corrected } });
    expect(res.status, res.text).toBe(200);
    // #113 now 3:19.000: first, by 1.000 on #111.
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[2, 200_000, 1_000], [3, 201_500, 2_500], [1, 199_000, null]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the corrected finish in the result' });
    expect((await call(stack, `/items/entry_crossings/${id}`, { token: user.token, method: 'PATCH', body: { crossed_at: new Date(finishes[2]!.crossedAt).toISOString() } })).status).toBe(200);
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[1, 200_000, null], [2, 201_500, 1_500], [3, 203_000, 3_000]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the crossing set back' });
  });

  it('adds a finish a dead tracker missed from a stopwatch time, and is told when a time cannot be the car’s', async () => {
    const id = factId(finishes[1]!.key);
    const stopwatch = finishes[1]!.crossedAt;
    // A typo in the hour: the finish would come before #112's start, and the car would drop back to running.
    const typo = await call(stack, `/items/entry_crossings/${id}`, { token: user.token, method: 'PATCH', body: { crossed_at: new Date(stopwatch - 3_600_000).toISOString() } });
    expect(typo.status, typo.text).toBe(400);
    expect(typo.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['crossed_at'], message: expect.stringMatching(/^this finish at .* is not after the entry's start in the stage \(/) });
    const start = factId(starts[1]!.key);
    const late = await call(stack, `/items/entry_crossings/${start}`, { token: user.token, method: 'PATCH', body: { crossed_at: new Date(stopwatch + 1_000).toISOString() } });
    expect(late.status, late.text).toBe(400);
    expect(late.json.errors[0].extensions.issues[0].message).toMatch(/^this start at .* is not before the entry's finish in the stage/);
    // A finish typed on the wrong car, half a minute after its start: no car covers the stage that fast.
    const quick = await call(stack, `/items/entry_crossings/${id}`, { token: user.token, method: 'PATCH', body: { crossed_at: new Date(starts[1]!.crossedAt + 33_000).toISOString() } });
    expect(quick.status, quick.text).toBe(400);
    expect(quick.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['crossed_at'], message: expect.stringMatching(/^this finish at .* makes a stage time of 0:33, shorter than the \d+\.\d km from the start line to the finish line take at 400 km\/h \(\d+:\d\d\): check the car and the time$/) });
    // A year typed wrong: the stage time would overflow the result, whose timing then failed on every try.
    const year = await call(stack, `/items/entry_crossings/${start}`, { token: user.token, method: 'PATCH', body: { crossed_at: new Date(starts[1]!.crossedAt - 365 * 86_400_000).toISOString() } });
    expect(year.status, year.text).toBe(400);
    expect(year.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['crossed_at'], message: expect.stringMatching(/^this start at .* makes a stage time of 365 days, more than a result holds/) });
    // A finish that has not happened yet: a date typed wrong, or local time read in the server's zone.
    const future = await call(stack, `/items/entry_crossings/${id}`, { token: user.token, method: 'PATCH', body: { crossed_at: new Date(Date.now() + FUTURE_RACE_SKEW_MS + 3_600_000).toISOString() } });
    expect(future.status, future.text).toBe(400);
    expect(future.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['crossed_at'], message: expect.stringMatching(/^this finish at .* is in the future \(the server's clock reads /) });
    // Another stage's finish line, or the start line as a finish: the car would be timed on another board.
    const otherStage = await call(stack, `/items/entry_crossings/${id}`, { token: user.token, method: 'PATCH', body: { geofence: demoId('geofence:ss1:finish') } });
    expect(otherStage.status, otherStage.text).toBe(400);
    expect(otherStage.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['geofence'], message: expect.stringMatching(/is a line of another stage than this crossing's$/) });
    const wrongLine = await call(stack, `/items/entry_crossings/${id}`, { token: user.token, method: 'PATCH', body: { geofence: startGate } });
    expect(wrongLine.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['geofence'], message: expect.stringMatching(/is a start line, not a finish line$/) });
    const bogus = await call(stack, `/items/entry_crossings/${id}`, { token: user.token, method: 'PATCH', body: { source: 'bogus' } });
    expect(bogus.status, bogus.text).toBe(400);
    expect(bogus.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['source'], message: 'expected one of live, replay, not "bogus"' });
    // The kind changed alone: a finish made a split dropped the finished car back to running.
    for (const kind of ['split', 'start']) {
      const renamed = await call(stack, `/items/entry_crossings/${id}`, { token: user.token, method: 'PATCH', body: { kind } });
      expect(renamed.status, renamed.text).toBe(400);
      expect(renamed.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['kind'], message: expect.stringMatching(new RegExp(`is a finish line, not a ${kind} line$`)) });
    }

    // The tracker died before the line: the pipeline's finish is gone, the timekeeper adds the stopwatch's.
    const db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 1 } });
    try {
      await db('entry_crossings').where({ id }).delete();
      // The stopwatch knows no tracker: any IMEI but the car's is refused, and none credits the car's own.
      const body = { entry: crews[1]!.id, stage, geofence: finishGate, kind: 'finish', crossed_at: new Date(stopwatch + 250).toISOString(), source: 'live' };
      const typo = await call(stack, '/items/entry_crossings', { token: user.token, body: { ...body, device_id: `${crews[1]!.imei.slice(0, -1)}9` } });
      expect(typo.status, typo.text).toBe(400);
      expect(typo.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['device_id'], message: expect.stringMatching(new RegExp(`is not a tracker of entry #${crews[1]!.raceNumber} \\(its trackers: ${crews[1]!.imei}\\)`)) });
      const added = await call(stack, '/items/entry_crossings', { token: user.token, body });
      expect(added.status, added.text).toBe(200);
      expect(added.json.data).toMatchObject({ device_id: crews[1]!.imei, corrected_at: expect.any(String) });
      // Integrators hear of it as of any crossing, from the system.
      const announced = async () =>
        ((await call(stack, `/items/race_events?filter[type][_eq]=timing.crossing.recorded&filter[source][_eq]=system&filter[entry][_eq]=${crews[1]!.id}&fields=payload&limit=-1`, { token })).json.data as { payload: { crossing: string; crossed_at: string; kind: string } }[])
          .filter((e) => e.payload.crossing === added.json.data.id);
      await waitFor(async () => (await announced()).length === 1, { timeoutMs: 10_000, intervalMs: 200, what: 'the stopwatch finish announced' });
      expect((await announced())[0]!.payload).toMatchObject({ kind: 'finish', crossed_at: new Date(stopwatch + 250).toISOString() });
      // The tracker, back to life, crosses the split after the finish set by hand: the car had finished. Left out, as
      // a split typed there is refused; one before the finish is the car's.
      // SS2 has no split line of its own: the start line's id stands in (the route times what the pipeline sends).
      const split = (at: number): CrossingFact => ({ ...crossing(crews[1]!, startGate, 'start', at), kind: 'split' });
      const late = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: `split-${randomBytes(4).toString('hex')}`, source: 'live', upserts: [split(stopwatch + 60_000), split(stopwatch - 60_000)], retractions: [] } });
      expect(late.status, late.text).toBe(200);
      expect(late.json.data).toMatchObject({ created: 1, official: 1 });
      expect(await db('entry_crossings').where({ entry: crews[1]!.id, stage, kind: 'split' }).pluck('crossed_at')).toEqual([new Date(stopwatch - 60_000)]);
      await db('entry_crossings').where({ entry: crews[1]!.id, stage, kind: 'split' }).delete();
      await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[1, 200_000, null], [2, 201_750, 1_750], [3, 203_000, 3_000]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the stopwatch finish in the result' });
      // A second stopwatch finish (a steward who did not see the first) would be passed over: refused, naming the kind.
      const twice = await call(stack, '/items/entry_crossings', {
        token: user.token,
        body: { entry: crews[1]!.id, stage, geofence: finishGate, kind: 'finish', device_id: crews[1]!.imei, crossed_at: new Date(stopwatch + 900).toISOString(), source: 'live' },
      });
      expect(twice.status, twice.text).toBe(400);
      expect(twice.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['kind'], message: expect.stringMatching(/^the entry already has a finish in the stage set by hand \(.*\), and only one counts/) });
      await db('entry_crossings').where({ id: added.json.data.id }).delete();
    } finally {
      await db.destroy();
    }
    // The pipeline's finish back, as it was.
    const back = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: `finish-${randomBytes(4).toString('hex')}`, source: 'live', upserts: [finishes[1]!, results[1]!], retractions: [] } });
    expect(back.status, back.text).toBe(200);
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[1, 200_000, null], [2, 201_500, 1_500], [3, 203_000, 3_000]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the standings as they were' });
  });

  it('adds a stopwatch start beside the tracker’s: the result is timed from it at once, and from the tracker’s once it is gone', async () => {
    // The tracker crossed the start line a second early (GPS drift); the steward adds the start the stopwatch gave.
    const added = await call(stack, '/items/entry_crossings', {
      token: user.token,
      body: { entry: crews[0]!.id, stage, geofence: startGate, kind: 'start', device_id: crews[0]!.imei, crossed_at: new Date(starts[0]!.crossedAt + 1_000).toISOString(), source: 'live' },
    });
    expect(added.status, added.text).toBe(200);
    // Before, the hook timed the result from the earliest start, the tracker's, until the pipeline next wrote the car.
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[1, 199_000, null], [2, 201_500, 2_500], [3, 203_000, 4_000]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the stopwatch start in the result' });
    // The steward may take back what was set by hand, not the tracker's crossing (the pipeline would write it again).
    const tracker = await call(stack, `/items/entry_crossings/${factId(starts[0]!.key)}`, { token: user.token, method: 'DELETE' });
    expect(tracker.status, tracker.text).toBe(400);
    expect(tracker.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['corrected_at'], message: expect.stringMatching(/^#\d+ start in SS2 .*: timed by the tracker, not set by hand\. Correct its time instead/) });
    expect((await call(stack, `/items/entry_crossings/${added.json.data.id}`, { token: user.token, method: 'DELETE' })).status).toBe(204);
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[1, 200_000, null], [2, 201_500, 1_500], [3, 203_000, 3_000]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the tracker’s start back in the result' });
  });

  it('keeps the tracker’s finish that comes after a stopwatch finish typed on the wrong car, and times the car from it once that is deleted', async () => {
    const batch = (name: string, upserts: unknown[], retractions: string[] = []) =>
      call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: `${name}-${randomBytes(4).toString('hex')}`, source: 'live', upserts, retractions } });
    // #112 still on the road.
    const running = { ...results[1]!, status: 'running', finishedAt: null, elapsedMs: null, totalMs: null };
    expect((await batch('running', [running], [finishes[1]!.key])).status).toBe(200);
    // A timekeeper types another car's stopwatch finish on #112, 30 s before #112 reaches the line.
    const wrong = await call(stack, '/items/entry_crossings', {
      token: user.token, body: { entry: crews[1]!.id, stage, geofence: finishGate, kind: 'finish', crossed_at: new Date(finishes[1]!.crossedAt - 30_000).toISOString(), source: 'live' },
    });
    expect(wrong.status, wrong.text).toBe(200);
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[2, 200_000, 28_500], [1, 171_500, null], [3, 203_000, 31_500]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the stopwatch finish in the result' });
    // #112's tracker crosses the line: its finish is stored beside the stopwatch's, which still times the car.
    const finished = await batch('finished', [finishes[1]!, results[1]!]);
    expect(finished.status, finished.text).toBe(200);
    const finishesOf112 = async () =>
      (await call(stack, `/items/entry_crossings?filter[entry][_eq]=${crews[1]!.id}&filter[stage][_eq]=${stage}&filter[kind][_eq]=finish&fields=id,crossed_at&sort=crossed_at`, { token: user.token })).json.data as { id: string; crossed_at: string }[];
    expect((await finishesOf112()).map((c) => c.id)).toEqual([wrong.json.data.id, factId(finishes[1]!.key)]);
    expect(await standings()).toEqual([[2, 200_000, 28_500], [1, 171_500, null], [3, 203_000, 31_500]]);
    // The timekeeper sees the mistake and deletes it: the car is timed from its tracker's finish. Before, that finish
    // had been kept out, and #112 was left running, then DNF when the stage closed.
    expect((await call(stack, `/items/entry_crossings/${wrong.json.data.id}`, { token: user.token, method: 'DELETE' })).status).toBe(204);
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[1, 200_000, null], [2, 201_500, 1_500], [3, 203_000, 3_000]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the tracker’s finish in the result' });
  });

  it('moves a crossing to the car that crossed, and the pipeline writing the tracker’s car again leaves it moved', async () => {
    // Trackers swapped between #113 and #111 at the start: the steward gives #113's start to #111.
    const id = factId(starts[2]!.key);
    const moved = await call(stack, `/items/entry_crossings/${id}`, { token: user.token, method: 'PATCH', body: { entry: crews[0]!.id } });
    expect(moved.status, moved.text).toBe(200);
    expect(moved.json.data).toMatchObject({ entry: crews[0]!.id, corrected_at: expect.any(String) });
    // The pipeline times #113 from its tracker again (a replay, a restart): before, its write took the crossing back
    // to #113, and then its result was timed from the start that is #111's: two cars started on one time.
    const again = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: `swap-${randomBytes(4).toString('hex')}`, source: 'live', upserts: [starts[2]!, results[2]!], retractions: [] } });
    expect(again.status, again.text).toBe(200);
    expect((await call(stack, `/items/entry_crossings/${id}?fields=entry`, { token: user.token })).json.data).toEqual({ entry: crews[0]!.id });
    const result113 = await call(stack, `/items/stage_results?filter[stage][_eq]=${stage}&filter[entry][_eq]=${crews[2]!.id}&fields=status,started_at,total_ms`, { token: user.token });
    expect(result113.json.data).toEqual([{ status: 'running', started_at: null, total_ms: null }]);
    // Back as it was, and given back to the pipeline.
    expect((await call(stack, `/items/entry_crossings/${id}`, { token: user.token, method: 'PATCH', body: { entry: crews[2]!.id } })).status).toBe(200);
    const cleared = await call(stack, `/items/entry_crossings/${id}`, { token: await adminToken(stack), method: 'PATCH', body: { corrected_at: null } });
    expect(cleared.status, cleared.text).toBe(200);
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[1, 200_000, null], [2, 201_500, 1_500], [3, 203_000, 3_000]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the standings as they were' });
  });

  it('is refused a crossing or penalty of an entry of another event in the stage, which would rank it among the stage’s own', async () => {
    const sister = await call(stack, '/items/events', { token, body: { name: `Sister Rally ${randomUUID().slice(0, 8)}`, slug: `sister-${randomUUID().slice(0, 8)}`, starts_at: new Date(t0 - 3_600_000).toISOString(), ends_at: new Date(t0 + 86_400_000).toISOString() } });
    expect(sister.status, sister.text).toBe(200);
    try {
      const stranger = await call(stack, '/items/entries', { token, body: { event: sister.json.data.id, race_number: 202, name: 'Sister crew' } });
      expect(stranger.status, stranger.text).toBe(200);
      const refusedAs = (answer: { status: number; text: string; json: any }, field: string) => {
        expect(answer.status, answer.text).toBe(400);
        expect(answer.json.errors[0].extensions.issues[0]).toMatchObject({ path: [field], message: 'entry #202 is an entry of another event than stage "SS2 Merzouga – Taouz"' });
      };
      const entry = stranger.json.data.id;
      refusedAs(await call(stack, '/items/entry_crossings', {
        token: user.token, body: { entry, stage, geofence: startGate, kind: 'start', device_id: crews[0]!.imei, crossed_at: new Date(t0).toISOString(), source: 'live' },
      }), 'entry');
      refusedAs(await call(stack, '/items/entry_penalties', { token: user.token, body: { entry, stage, kind: 'manual', amount_ms: 10_000 } }), 'entry');
      // Moved to it afterwards, too.
      const own = await call(stack, '/items/entry_penalties', { token: user.token, body: { entry: crews[0]!.id, stage, kind: 'manual', amount_ms: 1_000 } });
      expect(own.status, own.text).toBe(200);
      refusedAs(await call(stack, `/items/entry_penalties/${own.json.data.id}`, { token: user.token, method: 'PATCH', body: { entry } }), 'entry');
      expect((await call(stack, `/items/entry_penalties/${own.json.data.id}`, { token: user.token, method: 'DELETE' })).status).toBe(204);
    } finally {
      await call(stack, `/items/entries?filter[event][_eq]=${sister.json.data.id}`, { token, method: 'DELETE', body: { query: { filter: { event: { _eq: sister.json.data.id } } } } });
      await call(stack, `/items/events/${sister.json.data.id}`, { token, method: 'DELETE' });
    }
  });

  it('keeps timing when hand penalties given while a car runs take its total past what a result holds once it finishes', async () => {
    // #112 back on the road: its finish retracted, its result running.
    const batch = (name: string, upserts: unknown[], retractions: string[] = []) =>
      call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: `${name}-${randomBytes(4).toString('hex')}`, source: 'live', upserts, retractions } });
    const running = { ...results[1]!, status: 'running', finishedAt: null, elapsedMs: null, totalMs: null };
    expect((await batch('running', [running], [finishes[1]!.key])).status).toBe(200);
    // Five penalties of a hundred hours and one of 96:31:23: no stage time yet, so each is taken.
    const given: string[] = [];
    for (const [i, amount] of [360_000_000, 360_000_000, 360_000_000, 360_000_000, 360_000_000, 347_483_000].entries()) {
      const one = await call(stack, '/items/entry_penalties', { token: user.token, body: { entry: crews[1]!.id, stage, kind: 'manual', amount_ms: amount, reason: `Stewards’ decision ${20 + i}` } });
      expect(one.status, one.text).toBe(200);
      given.push(one.json.data.id);
    }
    try {
      // The car finishes: the total would be 2,147,684,500 ms. Every such batch was a 500 that stopped all timing.
      const finished = await batch('finished', [finishes[1]!, results[1]!]);
      expect(finished.status, finished.text).toBe(200);
      const stored = await call(stack, `/items/stage_results?filter[entry][_eq]=${crews[1]!.id}&filter[stage][_eq]=${stage}&fields=status,elapsed_ms,penalty_ms,total_ms`, { token });
      expect(stored.json.data).toEqual([{ status: 'finished', elapsed_ms: 201_500, penalty_ms: 2_147_483_000, total_ms: 2_147_483_647 }]);
      // Another car's timing goes on.
      expect((await batch('other', [results[0]!])).status).toBe(200);
    } finally {
      expect((await call(stack, '/items/entry_penalties', { token: user.token, method: 'DELETE', body: given })).status).toBe(204);
    }
    await waitFor(async () => JSON.stringify(await standings()) === JSON.stringify([[1, 200_000, null], [2, 201_500, 1_500], [3, 203_000, 3_000]]), { timeoutMs: 10_000, intervalMs: 200, what: 'the standings as they were' });
  });

  it('starts a replay preview and cancels it; a replay in apply mode is refused however it is asked for', async () => {
    const body = { event, stage, mode: 'preview' };
    const queued = await call(stack, '/pitwall/replay', { token: user.token, body });
    expect(queued.status, queued.text).toBe(202);
    runs.push(queued.json.run.id);
    expect(queued.json.run).toMatchObject({ status: 'queued', params: { mode: 'preview', event, stage } });
    const cancelled = await call(stack, `/pitwall/replay/${queued.json.run.id}/cancel`, { token: user.token, method: 'POST' });
    expect(cancelled.status, cancelled.text).toBe(200);
    expect(cancelled.json.run.status).toBe('cancelled');

    // The replay panel offers Apply only to whom may use it (it reads this with the events it lists).
    expect((await call(stack, '/pitwall/race-setup', { token: user.token })).json.may_apply).toBe(false);
    expect((await call(stack, '/pitwall/race-setup', { token })).json.may_apply).toBe(true);

    const count = async () => Number((await call(stack, '/items/replay_runs?aggregate[count]=id', { token })).json.data[0].count.id);
    const before = await count();
    const apply = await call(stack, '/pitwall/replay', { token: user.token, body: { ...body, mode: 'apply' } });
    expect(apply.status, apply.text).toBe(403);
    expect(apply.json.errors[0].message).toMatch(/Only admins may start a replay in apply mode/);
    const byRest = await call(stack, '/items/replay_runs', { token: user.token, body: { status: 'queued', params: { ...body, mode: 'apply', from: '2026-01-14T09:00:00Z', to: '2026-01-14T10:00:00Z' } } });
    expect(byRest.status, byRest.text).toBe(403);
    // Nor can a preview be requeued or turned into an apply afterwards.
    expect((await call(stack, `/items/replay_runs/${queued.json.run.id}`, { token: user.token, method: 'PATCH', body: { status: 'queued' } })).status).toBe(403);
    expect((await call(stack, `/items/replay_runs/${queued.json.run.id}`, { token: user.token, method: 'PATCH', body: { params: { ...body, mode: 'apply' } } })).status).toBe(403);
    expect(await count()).toBe(before);
    expect((await call(stack, `/items/replay_runs/${queued.json.run.id}?fields=status,params`, { token })).json.data).toMatchObject({ status: 'cancelled', params: { mode: 'preview' } });

    // Admins keep apply.
    const admin = await call(stack, '/pitwall/replay', { token, body: { ...body, mode: 'apply' } });
    expect(admin.status, admin.text).toBe(202);
    runs.push(admin.json.run.id);
    await call(stack, `/pitwall/replay/${admin.json.run.id}/cancel`, { token, method: 'POST' });
  });

  it('may neither stop an admin’s replay while it applies its changes nor change a run that ended; an admin still may', async () => {
    const db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 1 } });
    const eventsOf = (id: string) => db('race_events').whereRaw(`payload->>'run' = ?`, [id]).select('type', 'payload');
    const statusOf = async (id: string) => (await db('replay_runs').where({ id }).first('status')).status;
    const queueApply = async () => {
      const queued = await call(stack, '/pitwall/replay', { token, body: { event, stage, mode: 'apply' } });
      expect(queued.status, queued.text).toBe(202);
      runs.push(queued.json.run.id);
      return queued.json.run.id as string;
    };
    try {
      // An apply in its last phase, as the job runner marks it (no runner works in this file).
      const applying = await queueApply();
      await db('replay_runs').where({ id: applying }).update({ status: 'running', attempts: 1, checkpoint: JSON.stringify({ final: 1 }), started_at: db.fn.now(), heartbeat_at: db.fn.now() });
      for (const body of [{ status: 'cancelled' }, { status: 'cancelled', finished_at: new Date().toISOString() }]) {
        const patched = await call(stack, `/items/replay_runs/${applying}`, { token: user.token, method: 'PATCH', body });
        expect(patched.status, patched.text).toBe(409);
        expect(patched.json.errors[0].extensions.code).toBe('PITWALL_RUN_FINISHING');
      }
      const batch = await call(stack, '/items/replay_runs', { token: user.token, method: 'PATCH', body: { keys: [applying], data: { status: 'cancelled' } } });
      expect(batch.status, batch.text).toBe(409);
      expect((await call(stack, `/pitwall/replay/${applying}/cancel`, { token: user.token, method: 'POST' })).status).toBe(409);
      const forced = await call(stack, `/pitwall/replay/${applying}/cancel?force=true`, { token: user.token, method: 'POST' });
      expect(forced.status, forced.text).toBe(403);
      expect(forced.json.errors[0].message).toMatch(/Only admins may force a cancel/);
      expect(await statusOf(applying)).toBe('running');
      // The admin may.
      const byAdmin = await call(stack, `/pitwall/replay/${applying}/cancel?force=true`, { token, method: 'POST' });
      expect(byAdmin.status, byAdmin.text).toBe(200);
      expect(byAdmin.json.run.status).toBe('cancelled');

      // An apply whose end the job runner recorded: announced once, as it ended.
      const done = await queueApply();
      await db('replay_runs').where({ id: done }).update({ status: 'running', attempts: 1, started_at: db.fn.now(), heartbeat_at: db.fn.now() });
      const end = await call(stack, `/pitwall/replay/${done}/end`, { token: stack.processorToken, body: { status: 'succeeded' } });
      expect(end.json, end.text).toMatchObject({ recorded: true });
      await waitFor(async () => (await eventsOf(done)).length > 0, { what: 'replay.completed' });
      for (const body of [{ status: 'cancelled' }, { status: 'cancelled', finished_at: new Date().toISOString() }, { status: 'queued' }]) {
        const patched = await call(stack, `/items/replay_runs/${done}`, { token: user.token, method: 'PATCH', body });
        expect(patched.status, patched.text).toBe(403);
      }
      expect((await call(stack, `/items/replay_runs/${done}`, { token: user.token, method: 'PATCH', body: { status: 'cancelled' } })).json.errors[0].message).toMatch(/has ended \(succeeded\): only admins may change it/);
      // Nor a run that was cancelled.
      expect((await call(stack, `/items/replay_runs/${applying}`, { token: user.token, method: 'PATCH', body: { status: 'cancelled' } })).status).toBe(403);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await statusOf(done)).toBe('succeeded');
      expect((await eventsOf(done)).map((e) => [e.type, e.payload.status])).toEqual([['replay.completed', 'succeeded']]);
      // Cancelling it through the endpoint answers the run as it ended, as before.
      expect((await call(stack, `/pitwall/replay/${done}/cancel`, { token: user.token, method: 'POST' })).json.run.status).toBe('succeeded');
      // The admin may still change it.
      expect((await call(stack, `/items/replay_runs/${done}`, { token, method: 'PATCH', body: { error: 'checked by the race director' } })).status).toBe(200);
    } finally {
      await db('race_events').whereRaw(`payload->>'run' = ANY(?)`, [runs]).delete();
      await db.destroy();
    }
  });

  it('is refused what is not a timekeeper’s: results, schema, Flows, users, subscriptions, backfill, facts', async () => {
    const resultId = factId(results[0]!.key);
    const attempts: [string, Promise<{ status: number }>][] = [
      ['create stage_results', call(stack, '/items/stage_results', { token: user.token, body: { entry: crews[0]!.id, stage, status: 'finished' } })],
      ['update stage_results', call(stack, `/items/stage_results/${resultId}`, { token: user.token, method: 'PATCH', body: { rank: 9 } })],
      ['delete stage_results', call(stack, `/items/stage_results/${resultId}`, { token: user.token, method: 'DELETE' })],
      ['read webhook_subscriptions', call(stack, '/items/webhook_subscriptions', { token: user.token })],
      ['read webhook_deliveries', call(stack, '/items/webhook_deliveries', { token: user.token })],
      ['update entries', call(stack, `/items/entries/${crews[0]!.id}`, { token: user.token, method: 'PATCH', body: { name: 'x' } })],
      ['create geofences', call(stack, '/items/geofences', { token: user.token, body: { name: 'x' } })],
      ['read backfill_runs', call(stack, '/items/backfill_runs', { token: user.token })],
      ['backfill', call(stack, '/pitwall/backfill', { token: user.token, body: { model: demoId('model:FMB920'), from: '2026-01-14T09:00:00Z', to: '2026-01-14T10:00:00Z' } })],
      ['facts', call(stack, '/pitwall/facts', { token: user.token, body: { batch: 'x', source: 'live', upserts: [], retractions: [] } })],
      ['create a collection', call(stack, '/collections', { token: user.token, body: { collection: 'x_race_control' } })],
      ['create a field', call(stack, '/fields/entries', { token: user.token, body: { field: 'x', type: 'string' } })],
      ['read flows', call(stack, '/flows', { token: user.token })],
      ['create a flow', call(stack, '/flows', { token: user.token, body: { name: 'x', trigger: 'manual', status: 'inactive' } })],
      ['create a user', call(stack, '/users', { token: user.token, body: { email: `x-${randomUUID().slice(0, 8)}@pitwall.example.com` } })],
      ['change a role', call(stack, `/roles/${roleId}`, { token: user.token, method: 'PATCH', body: { name: 'x' } })],
      ['create a dashboard', call(stack, '/dashboards', { token: user.token, body: { name: 'x' } })],
    ];
    for (const [what, attempt] of attempts) expect((await attempt).status, what).toBe(403);
  });

  it('setup takes back what was added to its policy, leaves a policy an admin attached to the role, and then changes nothing', async () => {
    const policy = (await call(stack, '/policies?filter[name][_eq]=Race Control&fields=id', { token })).json.data[0].id;
    const added = await call(stack, '/permissions', { token, body: { policy, collection: 'webhook_subscriptions', action: 'read', fields: ['*'], permissions: {}, validation: {} } });
    expect(added.status, added.text).toBe(200);
    expect((await call(stack, '/items/webhook_subscriptions', { token: user.token })).status).toBe(200);
    const extra = await call(stack, '/policies', { token, body: { name: `stewards extra ${randomUUID().slice(0, 8)}`, admin_access: false, app_access: false } });
    cleanup.push(() => call(stack, `/policies/${extra.json.data.id}`, { token, method: 'DELETE' }));
    await call(stack, '/permissions', { token, body: { policy: extra.json.data.id, collection: 'backfill_runs', action: 'read', fields: ['*'], permissions: {}, validation: {} } });
    expect((await call(stack, `/roles/${roleId}`, { token, method: 'PATCH', body: { policies: { create: [{ policy: extra.json.data.id }] } } })).status).toBe(200);

    const done = await runSetupAgain(stack);
    expect(done).toEqual(['no longer allow Race Control to read webhook_subscriptions']);
    expect((await call(stack, '/items/webhook_subscriptions', { token: user.token })).status).toBe(403);
    // The admin's own policy on the role stays, and with it what it allows.
    expect((await call(stack, '/items/backfill_runs?limit=1', { token: user.token })).status).toBe(200);
    expect(await runSetupAgain(stack)).toEqual([]);
  });
});
