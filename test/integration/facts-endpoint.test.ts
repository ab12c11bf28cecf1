import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import type { FactBatch } from '../../src/domain/pipeline/fact-batch.ts';
import { factId } from '../../src/domain/pipeline/fact-ids.ts';
import { factKey, type AnomalyFact, type CrossingFact, type PenaltyFact, type StageResultFact } from '../../src/domain/pipeline/facts.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { adminToken, call } from '../support/directus-client.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const stage = demoId('stage:ss1');
const startGate = demoId('geofence:ss1:start');
const finishGate = demoId('geofence:ss1:finish');
const [e1, e2, e3] = demoEntries as [(typeof demoEntries)[0], (typeof demoEntries)[0], (typeof demoEntries)[0]];
const t0 = Date.UTC(2026, 0, 10, 9, 0, 0, 123);
const iso = (ms: number) => new Date(ms).toISOString();

const crossing: CrossingFact = {
  type: 'crossing', key: factKey.crossing(e1.id, startGate, t0), entryId: e1.id, stageId: stage, gateId: startGate,
  deviceId: e1.imei, kind: 'start', crossedAt: t0, speedKmh: 87.35,
};
const running: StageResultFact = {
  type: 'stage_result', key: factKey.stageResult(e1.id, stage), entryId: e1.id, stageId: stage, status: 'running',
  startedAt: t0, finishedAt: null, elapsedMs: null, penaltyMs: 0, totalMs: null,
};
const penalty: PenaltyFact = {
  type: 'penalty', key: factKey.penalty(e1.id, stage, 'missed_waypoint', 'wp2'), entryId: e1.id, stageId: stage,
  kind: 'missed_waypoint', amountMs: 120_000, details: { waypoint: 'WP2', distance_m: 412.5 },
};
const anomaly: AnomalyFact = {
  type: 'anomaly', key: factKey.anomaly(e1.imei, 'signal_loss', String(t0)), kind: 'signal_loss', severity: 'warning',
  entryId: e1.id, stageId: stage, deviceId: e1.imei, startedAt: t0 + 60_000, endedAt: t0 + 95_000, details: { gap_s: 35 },
};
const lateAnomaly: AnomalyFact = {
  type: 'anomaly', key: factKey.anomaly(e2.imei, 'late_data', String(t0)), kind: 'late_data', severity: 'info',
  entryId: e2.id, stageId: stage, deviceId: e2.imei, startedAt: t0, endedAt: t0, details: { fixes: 3 },
};
const finished = (entry: string, totalMs: number): StageResultFact => ({
  type: 'stage_result', key: factKey.stageResult(entry, stage), entryId: entry, stageId: stage, status: 'finished',
  startedAt: t0, finishedAt: t0 + totalMs, elapsedMs: totalMs, penaltyMs: 0, totalMs,
});
const batch = (upserts: FactBatch['upserts'], retractions: string[] = []): FactBatch => ({ batch: `test-${randomBytes(4).toString('hex')}`, source: 'live', upserts, retractions });
const counts = (c: Partial<Record<'created' | 'updated' | 'deleted' | 'unchanged' | 'ranked' | 'superseded' | 'orphaned' | 'conflicting' | 'official', number>>) =>
  ({ created: 0, updated: 0, deleted: 0, unchanged: 0, ranked: 0, superseded: 0, orphaned: 0, conflicting: 0, official: 0, ...c });

/** A Directus realtime client (WebSocket, handshake auth): every message it gets, in order. */
async function realtimeClient(url: string, accessToken: string): Promise<{ messages: Record<string, any>[]; send: (msg: unknown) => void; close: () => void }> {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/websocket`);
  const messages: Record<string, any>[] = [];
  socket.addEventListener('message', (e) => {
    const msg = JSON.parse(String(e.data));
    if (msg.type === 'ping') socket.send(JSON.stringify({ type: 'pong' }));
    else messages.push(msg);
  });
  await new Promise((resolve, reject) => {
    socket.addEventListener('open', resolve, { once: true });
    socket.addEventListener('error', reject, { once: true });
  });
  socket.send(JSON.stringify({ type: 'auth', access_token: accessToken }));
  await waitFor(async () => messages.some((m) => m.type === 'auth' && m.status === 'ok'), { timeoutMs: 5_000, intervalMs: 20, what: 'realtime auth' });
  return { messages, send: (msg) => socket.send(JSON.stringify(msg)), close: () => socket.close() };
}

describe('POST /pitwall/facts', () => {
  let token: string;
  const first = batch([crossing, running, penalty, anomaly]);
  const post = (body: unknown, as: string | undefined = stack.processorToken) => call(stack, '/pitwall/facts', { token: as, body });
  const item = async (collection: string, key: string, fields: string) => (await call(stack, `/items/${collection}/${factId(key)}?fields=${fields}`, { token })).json?.data;
  const revisions = async (collection: string): Promise<number> =>
    (await call(stack, `/revisions?filter[collection][_eq]=${collection}&limit=0&meta=filter_count`, { token })).json.meta.filter_count;
  const ranks = async () => {
    const rows = await call(stack, `/items/stage_results?filter[stage][_eq]=${stage}&fields=entry,rank&limit=-1`, { token });
    return Object.fromEntries(rows.json.data.map((r: { entry: string; rank: number | null }) => [r.entry, r.rank]));
  };

  beforeAll(async () => {
    token = await adminToken(stack);
  });

  afterAll(async () => {
    const keys: Record<string, string[]> = {
      entry_crossings: [crossing.key, factKey.crossing(e2.id, startGate, t0), factKey.crossing(e2.id, startGate, t0 + 1_000), factKey.crossing(e2.id, finishGate, t0 + 91_000)],
      stage_results: [e1, e2, e3].map((e) => factKey.stageResult(e.id, stage)),
      entry_penalties: [penalty.key],
      anomalies: [anomaly.key, lateAnomaly.key],
    };
    // Taken back as the pipeline takes its facts back: people may not delete a computed penalty (they waive it).
    const res = await post(batch([], Object.values(keys).flat()));
    expect(res.status, res.text).toBe(200);
  });

  it('stores each kind of fact under its key-derived id, with the values of the batch', async () => {
    const res = await post(first);
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ data: counts({ created: 4 }) });

    expect(await item('entry_crossings', crossing.key, 'entry,stage,geofence,device_id,kind,crossed_at,speed_kmh,source')).toEqual({
      entry: e1.id, stage, geofence: startGate, device_id: e1.imei, kind: 'start', crossed_at: '2026-01-10T09:00:00.123Z', speed_kmh: 87.35, source: 'live',
    });
    // Times are 4-byte integer fields, so Directus answers them as JSON numbers (it answers bigInteger as strings).
    const result = await item('stage_results', running.key, 'entry,stage,status,started_at,finished_at,elapsed_ms,penalty_ms,total_ms,rank,computed_at');
    expect({ ...result, computed_at: undefined }).toEqual({
      entry: e1.id, stage, status: 'running', started_at: iso(t0), finished_at: null, elapsed_ms: null, penalty_ms: 0, total_ms: null, rank: null, computed_at: undefined,
    });
    expect(Date.now() - Date.parse(result.computed_at)).toBeLessThan(60_000);
    expect(await item('entry_penalties', penalty.key, 'entry,stage,kind,amount_ms,details')).toEqual({
      entry: e1.id, stage, kind: 'missed_waypoint', amount_ms: 120_000, details: { waypoint: 'WP2', distance_m: 412.5 },
    });
    expect(await item('anomalies', anomaly.key, 'kind,severity,entry,stage,device_id,started_at,ended_at,details')).toEqual({
      kind: 'signal_loss', severity: 'warning', entry: e1.id, stage, device_id: e1.imei, started_at: iso(t0 + 60_000), ended_at: iso(t0 + 95_000), details: { gap_s: 35 },
    });
  });

  it('is heard by Directus realtime subscribers of race_events once committed, and a redelivery is not heard again', async () => {
    // Live screens subscribe to race_events: the fact rows themselves are written without item events (their race
    // events describe them, created after the commit).
    const client = await realtimeClient(stack.directusUrl, token);
    try {
      client.send({ type: 'subscribe', collection: 'race_events', query: { fields: ['type', 'source', 'payload'] }, uid: 'events' });
      await waitFor(async () => client.messages.some((m) => m.type === 'subscription' && m.event === 'init'), { timeoutMs: 5_000, intervalMs: 20, what: 'the subscription' });
      const heard = () => client.messages.filter((m) => m.type === 'subscription' && m.event !== 'init');
      const body = batch([lateAnomaly]);
      expect((await post(body)).status).toBe(200);
      await waitFor(async () => heard().length > 0, { timeoutMs: 5_000, intervalMs: 20, what: 'the create event' });
      expect(heard().map((m) => [m.event, m.data.map((e: Record<string, any>) => [e.type, e.source, e.payload.anomaly, e.payload.kind])])).toEqual([
        ['create', [['anomaly.detected', 'live', factId(lateAnomaly.key), 'late_data']]],
      ]);
      expect((await post(body)).json).toEqual({ data: counts({ unchanged: 1 }) });
      await sleep(500);
      expect(heard()).toHaveLength(1);
    } finally {
      client.close();
    }
  });

  it('changes nothing when the same batch is delivered again: no writes', async () => {
    const computedAt = (await item('stage_results', running.key, 'computed_at')).computed_at;
    const res = await post(first);
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ data: counts({ unchanged: 4 }) });
    expect((await item('stage_results', running.key, 'computed_at')).computed_at).toBe(computedAt);
  });

  it("writes the pipeline's facts without activity and revisions, while a person's edit keeps its revision", async () => {
    const activity = async (collection: string): Promise<number> =>
      (await call(stack, `/activity?filter[collection][_eq]=${collection}&limit=0&meta=filter_count`, { token })).json.meta.filter_count;
    const collections = ['entry_crossings', 'stage_results', 'entry_penalties', 'anomalies'];
    const before = await Promise.all(collections.map(revisions));
    const activityBefore = await Promise.all(collections.map(activity));
    const res = await post(batch([{ ...anomaly, endedAt: anomaly.endedAt! + 1000 }]));
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ data: counts({ updated: 1 }) });
    expect(await Promise.all(collections.map(revisions))).toEqual(before);
    expect(await Promise.all(collections.map(activity))).toEqual(activityBefore);
    // A timekeeper's correction through Directus's own API is tracked as ever.
    const edit = await call(stack, `/items/anomalies/${factId(anomaly.key)}`, { token, method: 'PATCH', body: { details: { gap_s: 36, note: 'checked by hand' } } });
    expect(edit.status, edit.text).toBe(200);
    expect(await revisions('anomalies')).toBe(before[3]! + 1);
  });

  it('ranks finished results by total time, equal totals sharing a rank', async () => {
    const res = await post(batch([finished(e1.id, 100_000), finished(e2.id, 90_000)]));
    expect(res.status, res.text).toBe(200);
    expect(res.json.data).toEqual(counts({ created: 1, updated: 1, ranked: 2 }));
    expect(await ranks()).toEqual({ [e1.id]: 2, [e2.id]: 1 });

    const tie = await post(batch([finished(e3.id, 90_000)]));
    expect(tie.json.data).toEqual(counts({ created: 1, ranked: 2 }));
    expect(await ranks()).toEqual({ [e1.id]: 3, [e2.id]: 1, [e3.id]: 1 });
  });

  it('keeps a penalty the officials gave by hand when the pipeline writes the result again', async () => {
    // A jump start: the timekeeper gives #103 ten seconds by hand; the hook re-times its result at once.
    const manual = await call(stack, '/items/entry_penalties', { token, body: { entry: e3.id, stage, kind: 'manual', amount_ms: 10_000, details: { reason: 'jump start' } } });
    expect(manual.status, manual.text).toBe(200);
    try {
      const retimed = async () => (await item('stage_results', factKey.stageResult(e3.id, stage), 'penalty_ms,total_ms,rank'));
      await waitFor(async () => (await retimed()).penalty_ms === 10_000, { timeoutMs: 10_000, what: 'the hand penalty in the result' });
      // Then the pipeline, which knows only its own penalties, writes #103's result again (a late fix moved its finish).
      const res = await post(batch([{ ...finished(e3.id, 90_500) }]));
      expect(res.status, res.text).toBe(200);
      expect(await retimed()).toEqual({ penalty_ms: 10_000, total_ms: 100_500, rank: 3 });
      // Delivered again, nothing changes.
      expect((await post(batch([{ ...finished(e3.id, 90_500) }]))).json.data).toEqual(counts({ unchanged: 1 }));
    } finally {
      await call(stack, `/items/entry_penalties/${manual.json.data.id}`, { token, method: 'DELETE' });
    }
    await waitFor(async () => (await item('stage_results', factKey.stageResult(e3.id, stage), 'penalty_ms')).penalty_ms === 0, { timeoutMs: 10_000, what: 'the lifted penalty gone from the result' });
    await post(batch([finished(e3.id, 90_000)]));
  });

  it("keeps a crossing the officials corrected by hand, and times the pipeline's result from it", async () => {
    // A second after the crossing the 403 test below must not find.
    const t1 = t0 + 1_000;
    const start: CrossingFact = { ...crossing, key: factKey.crossing(e2.id, startGate, t1), entryId: e2.id, deviceId: e2.imei, crossedAt: t1 };
    const finish: CrossingFact = { ...start, key: factKey.crossing(e2.id, finishGate, t1 + 90_000), gateId: finishGate, kind: 'finish', crossedAt: t1 + 90_000 };
    const result90 = { ...finished(e2.id, 90_000), startedAt: t1, finishedAt: t1 + 90_000 };
    expect((await post(batch([start]))).status).toBe(200);
    // The video shows #102 jumped the start by three seconds: the timekeeper moves its start.
    const corrected = iso(t1 - 3_000);
    const patch = await call(stack, `/items/entry_crossings/${factId(start.key)}`, { token, method: 'PATCH', body: { crossed_at: corrected } });
    expect(patch.status, patch.text).toBe(200);
    expect(await item('entry_crossings', start.key, 'crossed_at,corrected_at')).toEqual({ crossed_at: corrected, corrected_at: expect.any(String) });
    const result = () => item('stage_results', factKey.stageResult(e2.id, stage), 'status,started_at,finished_at,elapsed_ms,total_ms');
    // A late fix makes the pipeline send the start again at its own time; then the car finishes, 90 s after the
    // pipeline's start. The correction stays, and the result is timed from it.
    const late = await post(batch([{ ...start, speedKmh: 91 }]));
    expect(late.json.data).toEqual(counts({ official: 1 }));
    // A replay after the start line was moved times the start elsewhere, under another id: not a second start.
    const moved: CrossingFact = { ...start, key: factKey.crossing(e2.id, startGate, t1 + 2_000), crossedAt: t1 + 2_000 };
    expect((await post(batch([moved]))).json.data).toEqual(counts({ official: 1 }));
    expect(await item('entry_crossings', moved.key, 'id')).toBeUndefined();
    const done = await post(batch([finish, result90]));
    expect(done.status, done.text).toBe(200);
    expect(await item('entry_crossings', start.key, 'crossed_at,speed_kmh')).toEqual({ crossed_at: corrected, speed_kmh: 87.35 });
    expect(await result()).toEqual({ status: 'finished', started_at: corrected, finished_at: iso(t1 + 90_000), elapsed_ms: 93_000, total_ms: 93_000 });
    // Nor does a retraction by the pipeline remove it.
    expect((await post(batch([], [start.key]))).json.data).toEqual(counts({ official: 1 }));
    // Given back to the pipeline (the mark cleared by hand), the crossing takes the pipeline's time again.
    const cleared = await call(stack, `/items/entry_crossings/${factId(start.key)}`, { token, method: 'PATCH', body: { corrected_at: null } });
    expect(cleared.status, cleared.text).toBe(200);
    expect((await post(batch([start, finish, result90]))).json.data).toMatchObject({ official: 0 });
    expect(await item('entry_crossings', start.key, 'crossed_at,corrected_at')).toEqual({ crossed_at: iso(t1), corrected_at: null });
    expect(await result()).toEqual({ status: 'finished', started_at: iso(t1), finished_at: iso(t1 + 90_000), elapsed_ms: 90_000, total_ms: 90_000 });
  });

  it('announces an anomaly when found and when it ends, not for each change of its details alone', async () => {
    // A fix dated minutes ahead: every later fix of the car is late, and moves the jump's previous fix.
    const jumpAt = t0 + 240_000;
    const jump = (fromTs: number, endedAt: number | null = null): AnomalyFact => ({
      type: 'anomaly', key: factKey.anomaly(e3.imei, 'position_jump', String(jumpAt)), kind: 'position_jump', severity: 'warning',
      entryId: e3.id, stageId: stage, deviceId: e3.imei, startedAt: jumpAt, endedAt, details: { from_ts: fromTs, distance_m: 4_200_000 },
    });
    const announced = async () =>
      ((await call(stack, `/items/race_events?filter[type][_eq]=anomaly.detected&filter[device_id][_eq]=${e3.imei}&fields=payload&limit=-1`, { token })).json.data as { payload: { anomaly: string; details: { from_ts: number } } }[])
        .filter((e) => e.payload.anomaly === factId(jump(0).key))
        .map((e) => e.payload.details.from_ts);
    try {
      expect((await post(batch([jump(t0)]))).json.data).toEqual(counts({ created: 1 }));
      for (let i = 1; i <= 5; i++) expect((await post(batch([jump(t0 + i * 1_000)]))).json.data).toEqual(counts({ updated: 1 }));
      expect(await item('anomalies', jump(0).key, 'details')).toEqual({ details: { from_ts: t0 + 5_000, distance_m: 4_200_000 } });
      expect(await announced()).toEqual([t0]);
      // Its end is news, with the details as they stand.
      await post(batch([jump(t0 + 6_000, jumpAt + 1)]));
      expect((await announced()).sort()).toEqual([t0, t0 + 6_000]);
    } finally {
      await post(batch([], [jump(0).key]));
    }
  });

  it('deletes a retracted fact, and a retraction of a missing fact is harmless', async () => {
    const res = await post(batch([], [crossing.key]));
    expect(res.status, res.text).toBe(200);
    expect(res.json.data).toEqual(counts({ deleted: 1 }));
    const gone = await call(stack, `/items/entry_crossings?filter[id][_eq]=${factId(crossing.key)}&fields=id`, { token });
    expect(gone.json.data).toEqual([]);
    expect((await post(batch([], [crossing.key]))).json.data).toEqual(counts({ unchanged: 1 }));
  });

  it('accepts an admin, writing only what changed', async () => {
    const res = await post(batch([{ ...penalty, amountMs: 60_000 }]), token);
    expect(res.status, res.text).toBe(200);
    expect(res.json.data).toEqual(counts({ updated: 1 }));
    expect((await item('entry_penalties', penalty.key, 'amount_ms')).amount_ms).toBe(60_000);
  });

  it('refuses an anonymous caller with 401', async () => {
    const res = await call(stack, '/pitwall/facts', { body: first });
    expect(res.status).toBe(401);
    expect(res.json.errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('refuses with 403, writing nothing, a user whose role has no permission on the timing collections', async () => {
    const role = (await call(stack, '/roles', { token, body: { name: `Pitwall test no access ${randomBytes(3).toString('hex')}` } })).json.data.id as string;
    const userToken = randomBytes(24).toString('hex');
    const user = await call(stack, '/users', { token, body: { email: `no-access-${randomBytes(3).toString('hex')}@pitwall.example.com`, role, token: userToken, status: 'active' } });
    expect(user.status, user.text).toBe(200);
    try {
      const other = { ...crossing, key: factKey.crossing(e2.id, startGate, t0), entryId: e2.id, deviceId: e2.imei };
      const res = await post(batch([other]), userToken);
      expect(res.status, res.text).toBe(403);
      expect(res.json.errors[0].extensions.code).toBe('FORBIDDEN');
      const rows = await call(stack, `/items/entry_crossings?filter[id][_eq]=${factId(other.key)}&fields=id`, { token });
      expect(rows.json.data).toEqual([]);
    } finally {
      await call(stack, `/users/${user.json.data.id}`, { token, method: 'DELETE' });
      await call(stack, `/roles/${role}`, { token, method: 'DELETE' });
    }
  });

  it('answers 400 naming the field when the body is invalid', async () => {
    const res = await post({ ...first, upserts: [{ ...crossing, crossedAt: iso(t0) }] });
    expect(res.status).toBe(400);
    const [error] = res.json.errors;
    expect(error.extensions.code).toBe('INVALID_PAYLOAD');
    expect(error.message).toContain('upserts.0.crossedAt');
    expect(error.extensions.issues).toContainEqual(expect.objectContaining({ path: ['upserts', 0, 'crossedAt'] }));

    const unknownKey = await post(batch([], ['lap:123']));
    expect(unknownKey.status).toBe(400);
    expect(unknownKey.json.errors[0].message).toContain('retractions.0');

    for (const snapshot of ['yesterday', '1:2', '1:2:3,', '5:3:', '3:5:6', "1:2:3'; DROP TABLE positions; --"]) {
      const badSnapshot = await post({ ...batch([], []), source: 'replay', snapshot });
      expect(badSnapshot.status, snapshot).toBe(400);
      expect(badSnapshot.json.errors[0].extensions.issues).toContainEqual(expect.objectContaining({ path: ['snapshot'] }));
    }
  });
});
