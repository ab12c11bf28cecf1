import { randomUUID } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadRaceSetup } from '../../src/store/race-setup.ts';
import { adminToken, call } from '../support/directus-client.ts';

/**
 * A geofence or waypoint the timing cannot use is refused where a race admin makes it, naming the field; one that
 * reaches the database anyway (an import by SQL) is left out of the processor's setup with a problem, and the rest
 * of the course is still timed.
 */
const stack = inject('stack');
const DAY = 24 * 3600_000;
const ring = [[-4.2, 31.4], [-4.1, 31.5], [-4.1, 31.4], [-4.2, 31.4]];
const line = (coordinates: unknown) => ({ type: 'LineString', coordinates });

describe('geofences and waypoints the timing cannot use', () => {
  let token: string;
  let db: Knex;
  const eventId = randomUUID();
  const stageId = randomUUID();

  beforeAll(async () => {
    token = await adminToken(stack);
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    const suffix = randomUUID().slice(0, 8);
    await db('events').insert({ id: eventId, name: `Guard rally ${suffix}`, slug: `guard-${suffix}`, status: 'draft', starts_at: new Date(Date.now() - DAY), ends_at: new Date(Date.now() + DAY) });
    await db('stages').insert({ id: stageId, event: eventId, name: 'SS1', sort_order: 1, opens_at: new Date(Date.now() - DAY), closes_at: new Date(Date.now() + DAY) });
  });

  afterAll(async () => {
    await db('waypoints').where({ stage: stageId }).delete();
    await db('geofences').where({ event: eventId }).delete();
    await db('stages').where({ id: stageId }).delete();
    await db('events').where({ id: eventId }).delete();
    await db.destroy();
  });

  const create = (collection: string, body: Record<string, unknown>) => call(stack, `/items/${collection}`, { token, body });
  const geofence = (body: Record<string, unknown>) => create('geofences', { event: eventId, stage: stageId, name: `g-${randomUUID().slice(0, 6)}`, ...body });

  it('refuses a second stage of the event under one name (a stage saved as a copy kept it), naming the field', async () => {
    const stage = (body: Record<string, unknown>) => create('stages', { event: eventId, sort_order: 2, opens_at: new Date(Date.now() - DAY).toISOString(), closes_at: new Date(Date.now() + DAY).toISOString(), ...body });
    const copy = await stage({ name: ' ss1 ' });
    expect(copy.status, copy.text).toBe(400);
    expect(copy.json.errors[0].extensions.issues[0]).toMatchObject({ path: ['name'], message: `the event already has a stage named "SS1" (${stageId}): give each stage its own name, as the classification board and the exports tell stages apart by it` });
    const second = await stage({ name: 'SS2' });
    expect(second.status, second.text).toBe(200);
    const ss2 = second.json.data.id as string;
    try {
      const renamed = await call(stack, `/items/stages/${ss2}`, { token, method: 'PATCH', body: { name: 'SS1' } });
      expect(renamed.status, renamed.text).toBe(400);
      expect(renamed.json.errors[0].extensions.issues[0].path).toEqual(['name']);
      const both = await call(stack, '/items/stages', { token, method: 'PATCH', body: { keys: [stageId, ss2], data: { name: 'SS3' } } });
      expect(both.status, both.text).toBe(400);
      expect(both.json.errors[0].extensions.reason).toBe('name: 2 stages given the one name "SS3": give each stage its own name');
      // Its own name again, with other fields, is fine.
      expect((await call(stack, `/items/stages/${ss2}`, { token, method: 'PATCH', body: { name: 'SS2', sort_order: 3 } })).status).toBe(200);
      expect(await db('stages').where({ id: ss2 }).first('name', 'sort_order')).toEqual({ name: 'SS2', sort_order: 3 });
    } finally {
      await db('stages').where({ id: ss2 }).delete();
    }
  });

  it('answers 400 naming the field, for a create and for an update, and takes what the timing can use', async () => {
    const refusals: [Record<string, unknown>, string][] = [
      // PostGIS alone answered this one with a 500.
      [{ kind: 'split_line', sort_order: 1, geometry: line([[-4.2, 31.4]]) }, 'geometry: a split_line needs at least 2 points, got 1'],
      [{ kind: 'start_line', geometry: { type: 'Point', coordinates: [-4.2, 31.4] } }, 'geometry: a start_line needs a LineString, not a Point'],
      [{ kind: 'finish_line', stage: null, geometry: line([[-4.2, 31.4], [-4.21, 31.41]]) }, 'stage: a finish_line belongs to a stage'],
      [{ kind: 'zone', geometry: { type: 'Polygon', coordinates: [[[-4.2, 31.4], [-4.1, 95], [-4.1, 31.4], [-4.2, 31.4]]] } }, 'geometry: a zone has an invalid position [-4.1, 95]'],
      [{ kind: 'speed_zone', speed_limit_kmh: -50, geometry: { type: 'Polygon', coordinates: [ring] } }, 'speed_limit_kmh: expected km/h above 0, not -50'],
      // PostGIS answered this one with a 500 too; the second could never be crossed.
      [{ kind: 'split_line', geometry: line([[-4.1, 31.41, 5, 6, 7], [-4.1, 31.4]]) }, 'geometry: a split_line needs a LineString, not a LineString whose positions are not [longitude, latitude]'],
      [{ kind: 'split_line', geometry: line([[-4.1, 31.4], [-4.1, 31.4]]) }, 'geometry: a split_line has no length: all its points are at one place'],
    ];
    for (const [body, reason] of refusals) {
      const answer = await geofence(body);
      expect(answer.status, reason).toBe(400);
      expect(answer.json.errors[0].extensions.reason, reason).toBe(reason);
      expect(answer.json.errors[0].extensions.issues[0].path, reason).toEqual([reason.split(':')[0]]);
    }
    expect(await db('geofences').where({ event: eventId }).count('* as n').first()).toEqual({ n: '0' });

    const start = await geofence({ kind: 'start_line', geometry: line([[-4.2, 31.4], [-4.21, 31.41]]), direction_deg: 90 });
    expect(start.status, start.text).toBe(200);
    const zone = await geofence({ kind: 'speed_zone', speed_limit_kmh: 50, geometry: { type: 'Polygon', coordinates: [ring] } });
    expect(zone.status, zone.text).toBe(200);
    // An update is checked as the row it makes.
    const moved = await call(stack, `/items/geofences/${start.json.data.id}`, { token, method: 'PATCH', body: { geometry: line([[-4.2, 31.4]]) } });
    expect(moved.status).toBe(400);
    expect(moved.json.errors[0].extensions.reason).toBe('geometry: a start_line needs at least 2 points, got 1');
    const unstaged = await call(stack, `/items/geofences/${start.json.data.id}`, { token, method: 'PATCH', body: { stage: null } });
    expect(unstaged.json.errors?.[0]?.extensions?.reason).toBe('stage: a start_line belongs to a stage');
    const renamed = await call(stack, `/items/geofences/${start.json.data.id}`, { token, method: 'PATCH', body: { name: 'Start SS1' } });
    expect(renamed.status, renamed.text).toBe(200);
    const limit = await call(stack, `/items/geofences/${zone.json.data.id}`, { token, method: 'PATCH', body: { speed_limit_kmh: 0 } });
    expect(limit.json.errors?.[0]?.extensions?.reason).toBe('speed_limit_kmh: expected km/h above 0, not 0');
    // A direction is a travel bearing: the start line with 720 counted no car heading 100 degrees.
    for (const direction_deg of [720, 360, -90]) {
      const turned = await call(stack, `/items/geofences/${start.json.data.id}`, { token, method: 'PATCH', body: { direction_deg } });
      expect(turned.status, turned.text).toBe(400);
      expect(turned.json.errors[0].extensions.reason).toBe(`direction_deg: expected degrees from 0 up to 360 (not included), or nothing, not ${direction_deg}`);
      expect(turned.json.errors[0].extensions.issues[0].path).toEqual(['direction_deg']);
    }
    const backwards = await geofence({ kind: 'finish_line', geometry: line([[-4.3, 31.4], [-4.31, 31.41]]), direction_deg: 400 });
    expect(backwards.json.errors?.[0]?.extensions?.reason).toBe('direction_deg: expected degrees from 0 up to 360 (not included), or nothing, not 400');
    for (const direction_deg of [0, 359.5, null]) {
      const turned = await call(stack, `/items/geofences/${start.json.data.id}`, { token, method: 'PATCH', body: { direction_deg } });
      expect(turned.status, turned.text).toBe(200);
    }
    expect(await db('geofences').where({ id: start.json.data.id }).first('direction_deg')).toEqual({ direction_deg: null });

    const waypoint = (body: Record<string, unknown>) => create('waypoints', { stage: stageId, name: `w-${randomUUID().slice(0, 6)}`, tolerance_meters: 50, sort_order: 1, penalty_ms: 60_000, ...body });
    const far = await waypoint({ location: { type: 'Point', coordinates: [-4.2, 91] } });
    expect(far.status).toBe(400);
    expect(far.json.errors[0].extensions.reason).toBe('location: the waypoint has an invalid position [-4.2, 91]');
    const negative = await waypoint({ location: { type: 'Point', coordinates: [-4.2, 31.4] }, tolerance_meters: -5 });
    expect(negative.json.errors?.[0]?.extensions?.reason).toBe('tolerance_meters: expected metres, 0 or more, not -5');
    // A negative penalty would take time off a car that missed the waypoint.
    const bonus = await waypoint({ location: { type: 'Point', coordinates: [-4.2, 31.4] }, penalty_ms: -100 });
    expect(bonus.status).toBe(400);
    expect(bonus.json.errors[0].extensions.reason).toBe('penalty_ms: expected milliseconds, 0 or more, not -100');
    const good = await waypoint({ location: { type: 'Point', coordinates: [-4.2, 31.4] } });
    expect(good.status, good.text).toBe(200);
  });

  it('leaves a geofence the engine cannot use out of the setup, with a problem, and keeps the rest', async () => {
    // As an import straight into the database would: no Directus in between.
    const bad = randomUUID();
    await db('geofences').insert({
      id: bad, event: eventId, stage: stageId, name: 'Imported zone', kind: 'zone',
      geometry: db.raw("ST_GeomFromGeoJSON(?)", [JSON.stringify({ type: 'Polygon', coordinates: [[[-4.2, 31.4], [-4.1, 95], [-4.1, 31.4], [-4.2, 31.4]]] })]),
    });
    const setup = await loadRaceSetup(db, { from: Date.now() - DAY, to: Date.now() + DAY });
    expect(setup.problems).toContain(`geofence Imported zone (${bad}): geometry: a zone has an invalid position [-4.1, 95]`);
    const ours = <T extends { stageId: string | null }>(items: T[]) => items.filter((item) => item.stageId === stageId);
    expect(ours(setup.course.gates).map((g) => g.kind)).toEqual(['start_line']);
    expect(ours(setup.course.zones).map((z) => z.kind)).toEqual(['speed_zone']);
    expect(setup.course.waypoints.filter((w) => w.stageId === stageId)).toHaveLength(1);
  });
});
