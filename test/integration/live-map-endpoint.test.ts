import { randomBytes, randomUUID } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import { adminToken, call } from '../support/directus-client.ts';

const stack = inject('stack');
const event = demoId('event');

/** The routes the live map panel reads from Directus, as a Race Control user (the positions come from the gateway). */
describe('the live map’s routes of the bundle', () => {
  let db: Knex;
  let token: string;
  let steward: { id: string; token: string } | null = null;

  beforeAll(async () => {
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 1 } });
    token = await adminToken(stack);
    const role = (await call(stack, '/roles?filter[name][_eq]=Race Control&fields=id', { token })).json.data[0].id;
    const userToken = randomBytes(24).toString('hex');
    const user = await call(stack, '/users', { token, body: { email: `live-map-${randomUUID().slice(0, 8)}@pitwall.example.com`, role, token: userToken, status: 'active' } });
    expect(user.status, user.text).toBe(200);
    steward = { id: user.json.data.id, token: userToken };
  });

  afterAll(async () => {
    if (steward) await call(stack, `/users/${steward.id}`, { token, method: 'DELETE' });
    await db.destroy();
  });

  it('answer only signed-in callers, and name a bad or unknown event', async () => {
    for (const path of ['/pitwall/live/config', `/pitwall/live/${event}`, `/pitwall/live/${event}/stage-states`]) expect((await call(stack, path)).status, path).toBe(401);
    const bad = await call(stack, '/pitwall/live/not-an-event', { token: steward!.token });
    expect(bad.status).toBe(400);
    expect(bad.json.errors[0].extensions.reason).toBe('event: expected a uuid, got "not-an-event"');
    expect(bad.json.errors[0].extensions.issues).toEqual([{ code: 'custom', path: ['event'], message: 'expected a uuid, got "not-an-event"' }]);
    expect((await call(stack, `/pitwall/live/${randomUUID()}`, { token: steward!.token })).status).toBe(404);
  });

  it('say where the gateway is: nothing when Directus has no PITWALL_LIVE_URL (the panel then uses port 8090 of its host)', async () => {
    const config = await call(stack, '/pitwall/live/config', { token: steward!.token });
    expect(config.status, config.text).toBe(200);
    expect(config.json).toEqual({ url: null });
  });

  it('give the event’s course in the domain’s shapes and its trackers with their race numbers', async () => {
    const res = await call(stack, `/pitwall/live/${event}`, { token: steward!.token });
    expect(res.status, res.text).toBe(200);
    const setup = res.json;
    expect(setup.event).toEqual({ id: event, name: 'Pitwall Desert Rally (demo)' });
    expect(setup.stages.map((s: { id: string }) => s.id)).toEqual([demoId('stage:ss1'), demoId('stage:ss2')]);
    expect(setup.problems).toEqual([]);
    // What the database holds for the event, drawn one to one.
    const geofences = await db('geofences').where({ event }).select('id', 'kind');
    const lines = geofences.filter((g) => g.kind.endsWith('_line'));
    expect(setup.course.gates.map((g: { id: string }) => g.id).sort()).toEqual(lines.map((g) => g.id).sort());
    expect(setup.course.zones.map((z: { id: string }) => z.id).sort()).toEqual(geofences.filter((g) => !g.kind.endsWith('_line')).map((g) => g.id).sort());
    const waypoints = await db('waypoints as w').join('stages as s', 's.id', 'w.stage').where('s.event', event).select('w.id');
    expect(setup.course.waypoints).toHaveLength(waypoints.length);
    const start = setup.course.gates.find((g: { id: string }) => g.id === demoId('geofence:ss1:start'));
    expect(start).toMatchObject({ stageId: demoId('stage:ss1'), kind: 'start_line', name: 'SS1 start' });
    expect(start.line.length).toBeGreaterThanOrEqual(2);
    const speedZone = setup.course.zones.find((z: { kind: string }) => z.kind === 'speed_zone');
    expect(speedZone.polygon[0].length).toBeGreaterThanOrEqual(4);
    expect(speedZone.speedLimitKmh).toBeGreaterThan(0);
    expect(setup.course.waypoints[0]).toMatchObject({ location: [expect.any(Number), expect.any(Number)], toleranceMeters: expect.any(Number) });
    // Every demo tracker, with its entry's race number and crew.
    expect(setup.trackers).toHaveLength(demoEntries.length);
    const first = demoEntries[0]!;
    expect(setup.trackers.find((t: { device_id: string }) => t.device_id === first.imei)).toEqual({
      device_id: first.imei, entry: first.id, race_number: first.raceNumber, name: first.name, role: 'primary', valid_from: null, valid_to: null,
    });
  });

  it('list the stored stage results of the event’s entries', async () => {
    const entry = demoEntries[19]!;
    const stage = demoId('stage:ss2');
    const created = await call(stack, '/items/stage_results', { token, body: { entry: entry.id, stage, status: 'running', started_at: '2026-01-15T09:00:00.000Z' } });
    expect(created.status, created.text).toBe(200);
    try {
      const res = await call(stack, `/pitwall/live/${event}/stage-states`, { token: steward!.token });
      expect(res.status, res.text).toBe(200);
      expect(res.json.results).toContainEqual({ entry: entry.id, stage, status: 'running', started_at: '2026-01-15T09:00:00.000Z', finished_at: null, elapsed_ms: null, total_ms: null });
    } finally {
      await db('stage_results').where({ id: created.json.data.id }).delete();
    }
  });
});
