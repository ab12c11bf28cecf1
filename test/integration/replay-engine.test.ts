import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { gateAcross, roadLengthKm, stageCourses } from '../../src/demo/course.ts';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import { JobCancelledError } from '../../src/jobs/job.ts';
import type { CandidateGeofence, ReplayParams } from '../../src/jobs/replay/replay-params.ts';
import { runReplay, type ReplayBatch, type ReplayContext, type ReplaySummary } from '../../src/jobs/replay/run-replay.ts';
import type { StageResultFact } from '../../src/domain/pipeline/facts.ts';
import type { Processor } from '../../src/processor/processor.ts';
import { publishFixes } from '../../src/simulator/publish.ts';
import { deliveryOrder, simulateRace } from '../../src/simulator/race-schedule.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { startRacingProcessor } from '../support/racing-processor.ts';
import { REDIS_URL } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const ENTRIES = 10;
const event = demoId('event');
const ss1 = demoId('stage:ss1');
const finishGate = demoId('geofence:ss1:finish');
const devices = demoEntries.slice(0, ENTRIES).map((e) => e.imei);
const factTables = ['entry_crossings', 'stage_results', 'entry_penalties', 'anomalies'];

describe('the replay engine on a race the live processor timed', () => {
  const stream = `test:telemetry:${randomUUID()}`;
  let redis: Redis;
  let db: Knex;
  let processor: Processor | null = null;
  let params: ReplayParams;
  let movedLayout: CandidateGeofence[];
  let delivered: ReplayBatch[] = [];
  /** Runs before each delivery: what the live processor writes while a replay is under way. */
  let beforeDeliver: ((batch: ReplayBatch) => Promise<void>) | null = null;

  /** md5 of every positions row (all columns) in key order: proof that replay never writes positions. */
  const positionsChecksum = async (): Promise<string> =>
    (await db.raw(`SELECT md5(coalesce(string_agg(p::text, '|' ORDER BY device_id, ts), '')) AS sum, count(*) AS n FROM positions p`)).rows[0].sum;
  /** md5 of every business row a replay could touch, and of race_events. */
  const businessChecksum = async (): Promise<Record<string, string>> => {
    const sums: Record<string, string> = {};
    for (const table of [...factTables, 'race_events']) {
      sums[table] = (await db.raw(`SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) AS sum FROM ?? t`, [table])).rows[0].sum;
    }
    return sums;
  };

  const context = (mode: 'preview' | 'apply', signal = new AbortController().signal, progress: ReplayContext['progress'] = async () => {}): ReplayContext => ({
    db,
    log: pino({ level: 'silent' }),
    signal,
    checkpoint: null,
    progress,
    // As the runner does: one POST /pitwall/facts per batch with the processor's token, source replay.
    deliver: async (batch) => {
      if (mode === 'preview') throw new Error('preview must not deliver');
      delivered.push(batch);
      await beforeDeliver?.(batch);
      const res = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: `replay-test-${randomUUID()}`, source: 'replay', ...batch } });
      if (res.status !== 200) throw new Error(`POST /pitwall/facts answered ${res.status}: ${res.text}`);
      return res.json.data.superseded as number;
    },
  });
  const replay = (extra: Partial<ReplayParams> = {}): Promise<ReplaySummary> => {
    const p = { ...params, ...extra };
    delivered = [];
    return runReplay(p, context(p.mode));
  };

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 4 } });
    const [stage] = await db('stages').where({ id: ss1 }).select('opens_at');
    // Three days after the stage opens: later than now, so the live processor's clock ticks conclude nothing early.
    const start = new Date(stage.opens_at).getTime() + 3 * 24 * 3_600_000;
    const fixes = simulateRace({ start, entries: ENTRIES, stages: ['ss1'], seed: 21 });
    params = { event, from: new Date(start - 600_000).toISOString(), to: new Date(start + 3 * 3_600_000).toISOString(), mode: 'preview' };

    // History as it really arrives: a few resent and swapped fixes, timed live by the processor.
    await publishFixes(redis, stream, deliveryOrder(fixes, { duplicates: 0.02, outOfOrder: 0.02 }), { speed: 0 });
    processor = await startRacingProcessor(stack, stream);
    await waitFor(
      async () => {
        const [ranked] = await db('stage_results').where({ stage: ss1, status: 'finished' }).whereNotNull('rank').count<{ count: string }[]>('* as count');
        const [outbox] = await db('pitwall_outbox').count<{ count: string }[]>('* as count');
        return Number(ranked!.count) === ENTRIES && Number(outbox!.count) === 0;
      },
      { timeoutMs: 90_000, intervalMs: 1000, what: `${ENTRIES} ranked finishers and an empty outbox` },
    );
    await processor.close();
    processor = null;

    // The candidate layout: SS1's stored geofences, with the finish line 500 m earlier on the road.
    const course = stageCourses.find((c) => c.key === 'ss1')!;
    const moved = gateAcross(course, roadLengthKm(course) - course.finishBeforeEndKm - 0.5);
    const rows = await db('geofences')
      .where({ stage: ss1 })
      .select('id', 'stage', 'name', 'kind', 'speed_limit_kmh', 'sort_order', 'direction_deg', db.raw('ST_AsGeoJSON(geometry)::json AS geometry'));
    movedLayout = rows.map((r) => ({
      id: r.id, stage: r.stage, name: r.name, kind: r.kind, speed_limit_kmh: r.speed_limit_kmh === null ? null : Number(r.speed_limit_kmh),
      sort_order: r.sort_order, direction_deg: r.direction_deg === null ? null : Number(r.direction_deg),
      geometry: r.id === finishGate ? (moved.line.geometry as CandidateGeofence['geometry']) : r.geometry,
    }));
  }, 150_000);

  afterAll(async () => {
    await processor?.close();
    await redis.del(stream, `${stream}:dead-letter`);
    redis.disconnect();
    await db('positions').whereIn('device_id', devices).delete();
    await db('decoded_attributes').whereIn('device_id', devices).delete();
    for (const collection of [...factTables, 'race_events', 'pitwall_pending_events']) await db(collection).delete();
    await db.destroy();
  });

  it('previews the stored layout as unchanged, without writing positions, business rows or race events', async () => {
    const positions = await positionsChecksum();
    const business = await businessChecksum();
    const summary = await replay();

    expect(summary.diff.rows).toEqual([]);
    expect(summary.diff.counts).toEqual({ added: 0, removed: 0, changed: 0, unchanged: expect.any(Number) });
    const stored = await db('entry_crossings').where({ stage: ss1 }).count<{ count: string }[]>('* as count');
    expect(summary.facts.crossings).toBe(Number(stored[0]!.count));
    expect(summary.facts).toMatchObject({ crossings: ENTRIES * 3, results: ENTRIES });
    expect(summary.diff.counts.unchanged).toBe(summary.facts.crossings + summary.facts.results + summary.facts.penalties + summary.facts.anomalies);
    expect(summary.positions).toBe(Number((await db('positions').whereIn('device_id', devices).count<{ count: string }[]>('* as count'))[0]!.count));
    expect(summary.devices).toBe(ENTRIES);
    expect(summary.tracks).toHaveLength(ENTRIES);
    for (const track of summary.tracks) {
      expect(track.points.length).toBeGreaterThan(100);
      expect(track.points.length).toBeLessThanOrEqual(400);
      expect(track.race_number).toBe(demoEntries.find((e) => e.imei === track.device_id)!.raceNumber);
    }
    expect(summary.crossings).toHaveLength(ENTRIES * 3);
    expect(summary.applied).toBeUndefined();
    expect(delivered).toEqual([]);

    expect(await positionsChecksum()).toBe(positions);
    expect(await businessChecksum()).toEqual(business);
  });

  it('shows a moved finish line as changed finish times and results, with their deltas, still writing nothing', async () => {
    const positions = await positionsChecksum();
    const business = await businessChecksum();
    const summary = await replay({ geofences: movedLayout });

    const finishes = summary.diff.rows.filter((r) => r.collection === 'entry_crossings');
    expect(finishes).toHaveLength(ENTRIES);
    for (const row of finishes) {
      expect(row).toMatchObject({ change: 'changed', stage: ss1 });
      expect(row.fields).toContain('crossed_at');
      expect(row.label).toBe(`#${row.race_number} SS1 finish`);
      expect(row.before!['geofence']).toBe(finishGate);
      // 500 m earlier at rally speed: ten seconds or more.
      expect(row.delta_ms).toBeLessThan(-10_000);
      expect(Date.parse(String(row.after!['crossed_at'])) - Date.parse(String(row.before!['crossed_at']))).toBe(row.delta_ms);
    }
    const results = summary.diff.rows.filter((r) => r.collection === 'stage_results');
    expect(results).toHaveLength(ENTRIES);
    for (const row of results) {
      const finish = finishes.find((f) => f.entry === row.entry)!;
      expect(row).toMatchObject({ change: 'changed', label: `#${row.race_number} SS1 Erfoud – Merzouga dunes result` });
      expect(row.delta_ms).toBe(finish.delta_ms);
    }
    expect(summary.diff.counts.changed).toBeGreaterThanOrEqual(2 * ENTRIES);
    expect(summary.diff.counts.added + summary.diff.counts.removed).toBe(0);
    // The crossing points of the map lie on the moved line.
    const course = stageCourses.find((c) => c.key === 'ss1')!;
    const line = gateAcross(course, roadLengthKm(course) - course.finishBeforeEndKm - 0.5).line.geometry.coordinates;
    for (const c of summary.crossings.filter((x) => x.kind === 'finish')) {
      expect(Math.abs(c.lon - (line[0]![0]! + line[1]![0]!) / 2)).toBeLessThan(0.002);
      expect(Math.abs(c.lat - (line[0]![1]! + line[1]![1]!) / 2)).toBeLessThan(0.002);
    }

    expect(await positionsChecksum()).toBe(positions);
    expect(await businessChecksum()).toEqual(business);
  });

  it('leaves alone what the live processor wrote after the replay read the data, and takes it in when applied again', async () => {
    const positions = await positionsChecksum();
    // While the replay delivers, the live processor times one of the replayed results otherwise (as it would for a
    // car on the stage): the replay computed its result from data that is older now.
    let live: StageResultFact | null = null;
    beforeDeliver = async (batch) => {
      beforeDeliver = null;
      const result = batch.upserts.find((f): f is StageResultFact => f.type === 'stage_result')!;
      live = { ...result, elapsedMs: result.elapsedMs! + 1234, totalMs: result.totalMs! + 1234, finishedAt: result.finishedAt! + 1234 };
      const res = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: `live-${randomUUID()}`, source: 'live', upserts: [live], retractions: [] } });
      expect(res.status).toBe(200);
    };
    const first = await replay({ geofences: movedLayout, mode: 'apply' });
    expect(first.applied?.superseded).toBe(1);
    const kept = await db('stage_results').where({ entry: live!.entryId, stage: ss1 }).first('elapsed_ms');
    expect(Number(kept.elapsed_ms)).toBe(live!.elapsedMs);
    // Every other change of the replay was applied: what differs now is that result (and ranks it may have moved).
    const after = await replay({ geofences: movedLayout });
    expect(after.diff.counts).toMatchObject({ added: 0, removed: 0 });
    expect(after.diff.rows.filter((r) => r.collection === 'entry_crossings')).toEqual([]);
    expect(after.diff.rows.find((r) => r.collection === 'stage_results' && r.entry === live!.entryId)).toMatchObject({ change: 'changed' });

    // Applied again once nothing else writes: the replay's result replaces the live one.
    const second = await replay({ geofences: movedLayout, mode: 'apply' });
    expect(second.applied).toMatchObject({ upserts: after.diff.counts.changed, removals: 0, superseded: 0 });
    expect((await replay({ geofences: movedLayout })).diff.counts).toMatchObject({ added: 0, removed: 0, changed: 0 });

    // Back to the stored layout, as the tests after this one expect.
    await replay({ mode: 'apply' });
    expect((await replay()).diff.counts).toMatchObject({ added: 0, removed: 0, changed: 0 });
    expect(await positionsChecksum()).toBe(positions);
  });

  it('applies the moved finish through the endpoint, and applying again changes nothing', async () => {
    const positions = await positionsChecksum();
    const preview = await replay({ geofences: movedLayout });
    const first = await replay({ geofences: movedLayout, mode: 'apply' });

    expect(first.diff.counts).toEqual(preview.diff.counts);
    expect(first.applied).toEqual({ upserts: preview.diff.counts.changed + preview.diff.counts.added, removals: ENTRIES, batches: 1, superseded: 0 });
    expect(delivered[0]!.removals.every((r) => r.collection === 'entry_crossings')).toBe(true);

    // What is stored now is what the replay computed: finish crossings, results and their ranks.
    const crossings = await db('entry_crossings').where({ stage: ss1, kind: 'finish' }).select('entry', 'crossed_at', 'source');
    expect(crossings.map((c) => [c.entry, c.crossed_at.toISOString(), c.source]).sort()).toEqual(
      first.crossings.filter((c) => c.kind === 'finish').map((c) => [c.entry, c.crossed_at, 'replay']).sort(),
    );
    const results = await db('stage_results').where({ stage: ss1 }).select('entry', 'total_ms', 'rank');
    const replayedResults = first.diff.rows.filter((r) => r.collection === 'stage_results');
    expect(results.map((r) => [r.entry, Number(r.total_ms), r.rank]).sort()).toEqual(replayedResults.map((r) => [r.entry, r.after!['total_ms'], r.after!['rank']]).sort());
    const events = await db('race_events').where({ source: 'replay' }).select('type');
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['timing.crossing.recorded', 'stage.result.computed']));

    const business = await businessChecksum();
    const second = await replay({ geofences: movedLayout, mode: 'apply' });
    expect(second.diff.counts).toEqual({ added: 0, removed: 0, changed: 0, unchanged: first.diff.counts.changed + first.diff.counts.unchanged });
    expect(second.applied).toEqual({ upserts: 0, removals: 0, batches: 0, superseded: 0 });
    expect(delivered).toEqual([]);
    expect(await businessChecksum()).toEqual(business);
    expect(await positionsChecksum()).toBe(positions);

    // Back to the stored layout: the finishes move back, by the opposite deltas.
    const back = await replay({ mode: 'apply' });
    const deltas = (s: ReplaySummary): Record<string, number> =>
      Object.fromEntries(s.diff.rows.filter((r) => r.collection === 'entry_crossings').map((r) => [String(r.entry), Number(r.delta_ms)]));
    expect(Object.values(deltas(back)).every((d) => d > 10_000)).toBe(true);
    for (const [entry, d] of Object.entries(deltas(first))) expect(deltas(back)[entry]).toBe(-d);
    expect((await replay()).diff.counts).toMatchObject({ added: 0, removed: 0, changed: 0 });
    expect(await positionsChecksum()).toBe(positions);
  });

  it('stops with JobCancelledError when cancelled, and leaves the connection pool usable', async () => {
    const abort = new AbortController();
    const business = await businessChecksum();
    const seen: number[] = [];
    const run = runReplay({ ...params, mode: 'apply', geofences: movedLayout }, context('apply', abort.signal, async ({ processed }) => {
      seen.push(processed);
      abort.abort();
    }));
    await expect(run).rejects.toBeInstanceOf(JobCancelledError);
    expect(seen).toEqual([0]);
    expect(delivered).toEqual([]);
    expect(await businessChecksum()).toEqual(business);
    expect((await db.raw('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('replays only the chosen entries and stage, saying which asked-for trackers cannot be replayed', async () => {
    const [e1, e2] = demoEntries as [(typeof demoEntries)[0], (typeof demoEntries)[0]];
    const summary = await replay({ event: undefined, entries: [e1.id], devices: [e1.imei, e2.imei, '000000000000000'], stage: ss1, geofences: movedLayout });
    expect(summary.tracks.map((t) => t.device_id)).toEqual([e1.imei]);
    expect(new Set(summary.diff.rows.map((r) => r.entry))).toEqual(new Set([e1.id]));
    expect(summary.diff.rows.filter((r) => r.collection === 'entry_crossings')).toHaveLength(1);
    expect(summary.problems).toEqual(expect.arrayContaining([expect.stringContaining('000000000000000')]));
  });

  it('leaves a start the officials corrected by hand as it is, and times its result from it, previewed as applied', async () => {
    const [e1] = demoEntries as [(typeof demoEntries)[0]];
    const start = await db('entry_crossings').where({ stage: ss1, entry: e1.id, kind: 'start' }).first('id', 'crossed_at');
    const corrected = new Date(start.crossed_at.getTime() - 3_000);
    const patch = await call(stack, `/items/entry_crossings/${start.id}`, { token: await adminToken(stack), method: 'PATCH', body: { crossed_at: corrected.toISOString() } });
    expect(patch.status, patch.text).toBe(200);
    const result = () => db('stage_results').where({ stage: ss1, entry: e1.id }).first('started_at', 'finished_at', 'elapsed_ms', 'rank');
    await waitFor(async () => (await result()).started_at.getTime() === corrected.getTime(), { what: "the hook's re-timing after the correction" });
    const business = await businessChecksum();

    // The stored layout again: nothing to change, the correction included.
    const preview = await replay();
    expect(preview.diff.rows).toEqual([]);
    const again = await replay({ mode: 'apply' });
    expect(again.applied).toEqual({ upserts: 0, removals: 0, batches: 0, superseded: 0 });
    expect(await businessChecksum()).toEqual(business);

    // The moved finish: the finish moves, the start stays the officials', and the result is timed from both.
    const moved = await replay({ geofences: movedLayout });
    expect(moved.diff.rows.filter((r) => r.collection === 'entry_crossings' && r.entry === e1.id).map((r) => (r.after ?? r.before)!['kind'])).toEqual(['finish']);
    const previewed = moved.diff.rows.find((r) => r.collection === 'stage_results' && r.entry === e1.id)!;
    await replay({ geofences: movedLayout, mode: 'apply' });
    const stored = await result();
    expect(stored.started_at).toEqual(corrected);
    expect(Number(stored.elapsed_ms)).toBe(stored.finished_at.getTime() - corrected.getTime());
    expect(previewed.after).toMatchObject({ started_at: corrected.toISOString(), elapsed_ms: Number(stored.elapsed_ms) });
    expect(await db('entry_crossings').where({ id: start.id }).first('crossed_at')).toEqual({ crossed_at: corrected });
  });

  it('leaves a computed penalty the officials waived out of its result, previewed and applied as the endpoint counts it', async () => {
    const penalty = await db('entry_penalties').where({ stage: ss1 }).whereIn('kind', ['speeding', 'missed_waypoint']).orderBy('id').first('id', 'entry', 'amount_ms');
    expect(penalty, 'a computed penalty on SS1').toBeDefined();
    const result = () => db('stage_results').where({ stage: ss1, entry: penalty.entry }).first('penalty_ms', 'total_ms');
    const before = await result();
    const patch = await call(stack, `/items/entry_penalties/${penalty.id}`, { token: await adminToken(stack), method: 'PATCH', body: { waived: true, waived_reason: 'radar fault' } });
    expect(patch.status, patch.text).toBe(200);
    await waitFor(async () => Number((await result()).penalty_ms) === Number(before.penalty_ms) - Number(penalty.amount_ms), { what: "the hook's re-timing after the waiver" });
    const business = await businessChecksum();

    // The layout last applied again: the waiver stands, and the result is counted without the penalty.
    const preview = await replay({ geofences: movedLayout });
    expect(preview.diff.rows).toEqual([]);
    const again = await replay({ geofences: movedLayout, mode: 'apply' });
    expect(again.applied).toEqual({ upserts: 0, removals: 0, batches: 0, superseded: 0 });
    expect(await businessChecksum()).toEqual(business);
  });
});
