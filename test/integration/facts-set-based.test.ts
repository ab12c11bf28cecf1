import { randomBytes, randomUUID } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { plainWriteCollections } from '../../extensions/pitwall/src/shared/fact-table-writes.ts';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import type { FactBatch } from '../../src/domain/pipeline/fact-batch.ts';
import { factId } from '../../src/domain/pipeline/fact-ids.ts';
import { factKey, type AnomalyFact, type CrossingFact, type PenaltyFact, type StageResultFact } from '../../src/domain/pipeline/facts.ts';
import { adminToken, call } from '../support/directus-client.ts';

const stack = inject('stack');
const stage = demoId('stage:ss2');
const startGate = demoId('geofence:ss2:start');
const entry = demoEntries[5]!;
const t0 = Date.UTC(2026, 0, 11, 9, 30, 0, 457);
const factCollections = ['entry_crossings', 'stage_results', 'entry_penalties', 'anomalies'];

const crossing = (speedKmh: number): CrossingFact => ({
  type: 'crossing', key: factKey.crossing(entry.id, startGate, t0), entryId: entry.id, stageId: stage, gateId: startGate,
  deviceId: entry.imei, kind: 'start', crossedAt: t0, speedKmh,
});
const result = (totalMs: number | null): StageResultFact => ({
  type: 'stage_result', key: factKey.stageResult(entry.id, stage), entryId: entry.id, stageId: stage, status: totalMs === null ? 'running' : 'finished',
  startedAt: t0, finishedAt: totalMs === null ? null : t0 + totalMs, elapsedMs: totalMs, penaltyMs: 0, totalMs,
});
const penalty: PenaltyFact = {
  type: 'penalty', key: factKey.penalty(entry.id, stage, 'missed_waypoint', 'wp9'), entryId: entry.id, stageId: stage,
  kind: 'missed_waypoint', amountMs: 60_000, details: { waypoint: 'WP9', distance_m: 131.25, seen: [1, 2] },
};
const anomaly: AnomalyFact = {
  type: 'anomaly', key: factKey.anomaly(entry.imei, 'position_jump', String(t0)), kind: 'position_jump', severity: 'warning',
  entryId: entry.id, stageId: stage, deviceId: entry.imei, startedAt: t0 + 5_000, endedAt: null, details: { jump_m: 2_400 },
};
const batch = (upserts: FactBatch['upserts'], retractions: string[] = []): FactBatch => ({ batch: `set-based-${randomBytes(4).toString('hex')}`, source: 'live', upserts, retractions });

/**
 * The pipeline's fact rows are written set-based where the caller's permissions and the data model decide nothing
 * row by row (an admin, the processor's plain role), and through ItemsService elsewhere, so that Directus still
 * decides for a role narrowed by hand. Both ways must store the same values.
 */
describe('POST /pitwall/facts: set-based writes and ItemsService writes', () => {
  let token: string;
  let db: Knex;
  let processorRole: string;
  let processorUser: string;
  // A role under the processor's with a policy whose create permissions carry validation rules.
  const narrowed = { policy: '', role: '', user: '', token: randomBytes(24).toString('hex') };
  const ids = [crossing(0), result(null), penalty, anomaly].map((fact) => factId(fact.key));

  const rowsOf = async () =>
    Object.fromEntries(
      await Promise.all(
        factCollections.map(async (collection) => {
          const rows = (await call(stack, `/items/${collection}?filter[id][_in]=${ids.join(',')}&fields=*&sort=id`, { token })).json.data as Record<string, unknown>[];
          // Who computed it and when is not what it is.
          return [collection, rows.map(({ computed_at: _computed, ...row }) => row)];
        }),
      ),
    );
  /** The race events about this file's entry created since `before` (their ids), as an integrator reads them. */
  const newEvents = async (before: Set<string>) =>
    (await db('race_events').where({ entry: entry.id }).select('id', 'type', 'source', 'occurred_at', 'event', 'device_id', 'payload'))
      .filter((row) => !before.has(row.id))
      // The id and version count every change of a fact ever made (the first caller's run included): not what happened.
      .map(({ id: _id, ...event }) => event)
      .sort((a, b) => `${a.type}${JSON.stringify(a.payload)}`.localeCompare(`${b.type}${JSON.stringify(b.payload)}`));
  const eventIds = async () => new Set<string>((await db('race_events').where({ entry: entry.id }).select('id')).map((row) => row.id));
  const removeRows = async () => {
    for (const collection of factCollections) await db(collection).whereIn('id', ids).delete();
  };

  beforeAll(async () => {
    token = await adminToken(stack);
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    processorRole = (await call(stack, '/roles?filter[name][_eq]=Pitwall Processor&fields=id', { token })).json.data[0].id;
    processorUser = (await call(stack, '/users/me?fields=id', { token: stack.processorToken })).json.data.id;
    const policy = await call(stack, '/policies', { token, body: { name: `Capped facts ${randomUUID().slice(0, 8)}`, icon: 'rule', admin_access: false, app_access: false } });
    expect(policy.status, policy.text).toBe(200);
    narrowed.policy = policy.json.data.id;
    const rules: Record<string, Record<string, unknown>> = {
      entry_crossings: { speed_kmh: { _lte: 250 } },
      stage_results: { penalty_ms: { _gte: 0 } },
      entry_penalties: { amount_ms: { _gte: 0 } },
      anomalies: { kind: { _nnull: true } },
    };
    for (const [collection, validation] of Object.entries(rules)) {
      const permission = await call(stack, '/permissions', { token, body: { policy: narrowed.policy, collection, action: 'create', fields: ['*'], permissions: {}, validation } });
      expect(permission.status, permission.text).toBe(200);
    }
    const role = await call(stack, '/roles', { token, body: { name: `Capped processor ${randomUUID().slice(0, 8)}`, parent: processorRole, policies: { create: [{ policy: narrowed.policy }] } } });
    expect(role.status, role.text).toBe(200);
    narrowed.role = role.json.data.id;
    const user = await call(stack, '/users', { token, body: { email: `capped-${randomUUID().slice(0, 8)}@pitwall.example.com`, role: narrowed.role, token: narrowed.token, status: 'active' } });
    expect(user.status, user.text).toBe(200);
    narrowed.user = user.json.data.id;
    await removeRows();
  });

  afterAll(async () => {
    await removeRows();
    await call(stack, `/users/${narrowed.user}`, { token, method: 'DELETE' });
    await call(stack, `/roles/${narrowed.role}`, { token, method: 'DELETE' });
    await call(stack, `/policies/${narrowed.policy}`, { token, method: 'DELETE' });
    await db.destroy();
  });

  it('writes set-based for an admin and the plain processor role, not for a role with validation rules', async () => {
    expect([...(await plainWriteCollections(db as never, { user: 'anyone', role: null, roles: [], admin: true, app: true, ip: null } as never, factCollections))]).toEqual(factCollections);
    const processor = { user: processorUser, role: processorRole, roles: [processorRole], admin: false, app: false, ip: null } as never;
    expect([...(await plainWriteCollections(db as never, processor, factCollections))]).toEqual(factCollections);
    const capped = { user: narrowed.user, role: narrowed.role, roles: [narrowed.role, processorRole], admin: false, app: false, ip: null } as never;
    expect([...(await plainWriteCollections(db as never, capped, factCollections))]).toEqual([]);
    // A caller of no role holds none of the permissions.
    expect([...(await plainWriteCollections(db as never, { user: randomUUID(), role: null, roles: [], admin: false, app: false, ip: null } as never, factCollections))]).toEqual([]);
  });

  it('leaves the verdict to Directus for the narrowed role: its validation refuses the batch and nothing is written', async () => {
    const refused = await call(stack, '/pitwall/facts', { token: narrowed.token, body: batch([crossing(300), result(null)]) });
    expect(refused.status, refused.text).toBe(400);
    expect(refused.json.errors[0].extensions.code).toBe('FAILED_VALIDATION');
    expect(await db('entry_crossings').where('id', factId(crossing(0).key)).first('id')).toBeUndefined();
    expect(await db('stage_results').where('id', factId(result(null).key)).first('id')).toBeUndefined();
    // The processor's own role has no such rule: the same fix is stored (set-based).
    const stored = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: batch([crossing(300)]) });
    expect(stored.status, stored.text).toBe(200);
    expect(Number((await db('entry_crossings').where('id', factId(crossing(0).key)).first('speed_kmh')).speed_kmh)).toBe(300);
    await removeRows();
  });

  it('stores the same rows and announces the same race events either way: creates, updates, ranks and retractions', async () => {
    const steps = [
      batch([crossing(87.35), result(null), penalty, anomaly]),
      batch([crossing(91.5), result(612_345), { ...anomaly, endedAt: t0 + 9_000, details: { jump_m: 2_400, cleared: true } }]),
      batch([result(598_001)], [penalty.key]),
    ];
    const after: Record<string, unknown>[] = [];
    for (const caller of [stack.processorToken, narrowed.token]) {
      await removeRows();
      const seen: Record<string, unknown> = {};
      for (const [i, step] of steps.entries()) {
        const before = await eventIds();
        const res = await call(stack, '/pitwall/facts', { token: caller, body: { ...step, batch: `${step.batch}-${caller.slice(0, 4)}` } });
        expect(res.status, res.text).toBe(200);
        seen[`step ${i}`] = { counts: res.json.data, rows: await rowsOf(), events: await newEvents(before) };
      }
      after.push(seen);
    }
    const [setBased, throughItems] = after;
    expect(setBased).toEqual(throughItems);
    // And the rows are the facts' values, not two equal mistakes.
    const last = (setBased!['step 2'] as { rows: Record<string, Record<string, unknown>[]> }).rows;
    // The set-based path takes the events' values from what its writes returned, the other reads them back: the
    // events are those of the stored rows, with the entry's race number.
    const created = (setBased!['step 0'] as { events: { type: string; payload: Record<string, unknown> }[] }).events;
    expect(created.map((e) => e.type).sort()).toEqual(['anomaly.detected', 'stage.result.computed', 'timing.crossing.recorded']);
    expect(created.find((e) => e.type === 'timing.crossing.recorded')!.payload).toMatchObject({ speed_kmh: 87.35, race_number: entry.raceNumber, crossed_at: new Date(t0).toISOString() });
    expect(last['entry_penalties']).toEqual([]);
    expect(last['stage_results']).toEqual([expect.objectContaining({ status: 'finished', total_ms: 598_001, rank: expect.any(Number), finished_at: new Date(t0 + 598_001).toISOString() })]);
    expect(last['entry_crossings']).toEqual([expect.objectContaining({ speed_kmh: 91.5, crossed_at: new Date(t0).toISOString(), kind: 'start', source: 'live' })]);
    expect(last['anomalies']).toEqual([expect.objectContaining({ ended_at: new Date(t0 + 9_000).toISOString(), details: { jump_m: 2_400, cleared: true } })]);
  });

  it('sends the rows through ItemsService when the data model gains a validation rule', async () => {
    await removeRows();
    const field = '/fields/entry_crossings/speed_kmh';
    const patched = await call(stack, field, { token, method: 'PATCH', body: { meta: { validation: { speed_kmh: { _lte: 250 } }, validation_message: 'No car is that fast.' } } });
    expect(patched.status, patched.text).toBe(200);
    try {
      const refused = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: batch([crossing(300)]) });
      expect(refused.status, refused.text).toBe(400);
      expect(refused.json.errors[0].extensions.code).toBe('FAILED_VALIDATION');
      expect(await db('entry_crossings').where('id', factId(crossing(0).key)).first('id')).toBeUndefined();
    } finally {
      await call(stack, field, { token, method: 'PATCH', body: { meta: { validation: null, validation_message: null } } });
    }
  });
});
