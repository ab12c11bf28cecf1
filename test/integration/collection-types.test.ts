import { randomBytes, randomUUID } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminToken, call } from '../support/directus-client.ts';

/**
 * A value a Pitwall column cannot hold (text that is no uuid, integer, JSON or time) is refused where it is written,
 * with a 400 naming the field, instead of Postgres's error as a 500 quoting the SQL; what Directus can store (numbers
 * as text, related items created with their parent, null) still is. A hand correction of a crossing is kept to a time
 * from year 1 and to the kinds of crossing the timing reads.
 */
const stack = inject('stack');
const DAY = 24 * 3600_000;

describe('values the columns of Pitwall collections cannot hold', () => {
  let token: string;
  let db: Knex;
  const suffix = randomUUID().slice(0, 8);
  const eventId = randomUUID();
  const stageId = randomUUID();
  const entryId = randomUUID();
  const modelId = randomUUID();
  const deviceId = randomUUID();
  const gateId = randomUUID();
  const crossingId = randomUUID();
  const crossedAt = new Date(Date.now() - 3600_000);
  const madeDevices: string[] = [];

  beforeAll(async () => {
    token = await adminToken(stack);
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    await db('events').insert({ id: eventId, name: `Types rally ${suffix}`, slug: `types-${suffix}`, status: 'draft', starts_at: new Date(Date.now() - DAY), ends_at: new Date(Date.now() + DAY) });
    await db('stages').insert({ id: stageId, event: eventId, name: 'SS1', sort_order: 1, opens_at: new Date(Date.now() - DAY), closes_at: new Date(Date.now() + DAY) });
    await db('entries').insert({ id: entryId, event: eventId, race_number: 901, name: 'Types crew' });
    await db('device_models').insert({ id: modelId, name: `TYPES-${suffix}` });
    await db('devices').insert({ id: deviceId, imei: `35${String(Date.now()).slice(-13)}`, name: 'Types tracker', model: modelId });
    await db('geofences').insert({
      id: gateId, event: eventId, stage: stageId, name: 'Start', kind: 'start_line',
      geometry: db.raw('ST_GeomFromGeoJSON(?)', [JSON.stringify({ type: 'LineString', coordinates: [[-4.2, 31.4], [-4.21, 31.41]] })]),
    });
    await db('entry_crossings').insert({ id: crossingId, entry: entryId, stage: stageId, geofence: gateId, device_id: '350000000000001', kind: 'start', crossed_at: crossedAt, source: 'live' });
  });

  afterAll(async () => {
    await db('entry_crossings').where({ stage: stageId }).delete();
    await db('stage_results').where({ stage: stageId }).delete();
    await db('entry_penalties').where({ stage: stageId }).delete();
    await db('entry_devices').where({ entry: entryId }).delete();
    await db('io_mappings').where({ model: modelId }).delete();
    await db('devices').whereIn('id', [deviceId, ...madeDevices]).delete();
    await db('device_models').where({ id: modelId }).delete();
    await db('geofences').where({ event: eventId }).delete();
    await db('entries').where({ id: entryId }).delete();
    await db('stages').where({ id: stageId }).delete();
    await db('events').where({ id: eventId }).delete();
    await db.destroy();
  });

  const write = (path: string, body: unknown, method = 'POST', as = token) => call(stack, path, { token: as, method, body });
  const expectRefused = (answer: { status: number; json: any; text: string }, field: string, message: string | RegExp) => {
    expect(answer.status, answer.text).toBe(400);
    const [error] = answer.json.errors;
    expect(error.extensions.code).toBe('INVALID_PAYLOAD');
    expect(error.extensions.issues.map((issue: { path: string[] }) => issue.path)).toContainEqual([field]);
    expect(error.extensions.reason).toMatch(typeof message === 'string' ? `${field}: ${message}` : message);
    expect(answer.text).not.toMatch(/insert into|update "|invalid input syntax/);
  };

  it('answers 400 naming the field where Postgres answered 500 with its SQL', async () => {
    const penalty = { entry: entryId, stage: stageId, kind: 'manual', amount_ms: 1000 };
    expectRefused(await write('/items/entry_penalties', { ...penalty, entry: 'not-a-uuid' }), 'entry', 'expected a uuid such as 5f0c8a4e-2b1d-4c3e-9a7f-0123456789ab, not "not-a-uuid"');
    expectRefused(await write('/items/entry_penalties', { ...penalty, details: 'notjson{' }), 'details', 'expected JSON (text sent for a JSON field must be JSON text), not "notjson{"');
    expectRefused(
      await write('/items/io_mappings', { model: modelId, io_id: 'abc', attribute: 'x', value_type: 'unsigned', byte_size: 2 }),
      'io_id', 'expected a whole number from -2147483648 to 2147483647, not "abc"',
    );
    expectRefused(await write('/items/entry_devices', { entry: entryId, device: '', role: 'primary' }), 'device', 'expected a uuid such as 5f0c8a4e-2b1d-4c3e-9a7f-0123456789ab, not ""');
    expect(await db('entry_penalties').where({ stage: stageId }).count('* as n').first()).toEqual({ n: '0' });
    expect(await db('io_mappings').where({ model: modelId }).count('* as n').first()).toEqual({ n: '0' });
    expect(await db('entry_devices').where({ entry: entryId }).count('* as n').first()).toEqual({ n: '0' });

    // Updates too, and every field a payload gets wrong at once.
    const both = await write(`/items/stages/${stageId}`, { opens_at: 'soon', sort_order: 1.5 }, 'PATCH');
    expectRefused(both, 'opens_at', 'expected a date and time such as 2026-03-14T08:00:00.705Z, not "soon"');
    expectRefused(both, 'sort_order', /sort_order: expected a whole number/);
    expectRefused(await write(`/items/entries/${entryId}`, { race_number: true }, 'PATCH'), 'race_number', 'expected a whole number from -2147483648 to 2147483647, not true');
    expectRefused(await write(`/items/geofences/${gateId}`, { speed_limit_kmh: 'fast' }, 'PATCH'), 'speed_limit_kmh', /speed_limit_kmh: expected/);
    expectRefused(await write(`/items/stages/${stageId}`, { closes_at: '0000-06-01T00:00:00Z' }, 'PATCH'), 'closes_at', 'must be in year 1 or later (0001-01-01T00:00:00Z): Postgres stores no earlier time');
    expect(await db('stages').where({ id: stageId }).first('sort_order')).toEqual({ sort_order: 1 });

    // A text longer than its column: Postgres names no column, and Directus's own 400 named another field.
    expectRefused(await write(`/items/entries/${entryId}`, { name: 'x'.repeat(300) }, 'PATCH'), 'name', 'at most 255 characters, got 300');
    expectRefused(await write('/items/webhook_subscriptions', { name: 'Long', url: `https://integrator.example/${'a'.repeat(280)}`, secret: 's3cret', active: true }), 'url', 'at most 255 characters, got 307');
    expect((await write(`/items/entries/${entryId}`, { name: '🏁'.repeat(255) }, 'PATCH')).status).toBe(200);
    expect((await db('entries').where({ id: entryId }).first('name')).name).toBe('🏁'.repeat(255));
  });

  it('takes what Directus stores: numbers as text, related items made with their parent, JSON text, null', async () => {
    const penalty = await write('/items/entry_penalties', { entry: entryId, stage: stageId, kind: 'manual', amount_ms: '1000', details: '{"reason":"jump start"}' });
    expect(penalty.status, penalty.text).toBe(200);
    expect(await db('entry_penalties').where({ id: penalty.json.data.id }).first('amount_ms', 'details')).toEqual({ amount_ms: 1000, details: { reason: 'jump start' } });
    const cleared = await write(`/items/entry_penalties/${penalty.json.data.id}`, { details: null }, 'PATCH');
    expect(cleared.status, cleared.text).toBe(200);

    const mapping = await write('/items/io_mappings', { model: modelId, io_id: '66', attribute: 'external_voltage', value_type: 'unsigned', byte_size: 2, multiplier: '0.001', invalid_values: [65535] });
    expect(mapping.status, mapping.text).toBe(200);
    // A tracker created with the entry's link to it (a nested create on the many-to-one).
    const imei = `35${randomBytes(7).readUIntBE(0, 6).toString().padStart(13, '0').slice(0, 13)}`;
    const linked = await write('/items/entry_devices', { entry: entryId, device: { imei, name: 'Spare tracker', model: modelId }, role: 'backup', valid_from: '2026-03-14 08:00', valid_to: null });
    expect(linked.status, linked.text).toBe(200);
    const device = await db('devices').where({ imei }).first('id');
    madeDevices.push(device.id);
    expect(await db('entry_devices').where({ id: linked.json.data.id }).first('device')).toEqual({ device: device.id });
  });

  it('leaves a caller who may not write the collection to Directus\'s 403', async () => {
    const roles = await call(stack, '/roles?filter[name][_eq]=Race Control&fields=id', { token });
    const userToken = randomBytes(24).toString('hex');
    const user = await call(stack, '/users', { token, body: { email: `types-${suffix}@pitwall.example.com`, role: roles.json.data[0].id, token: userToken, status: 'active' } });
    try {
      // Race Control may not write IO mappings: it is not told what one needs.
      const mapping = await write('/items/io_mappings', { model: modelId, io_id: 'abc', attribute: 'x', value_type: 'unsigned', byte_size: 2 }, 'POST', userToken);
      expect(mapping.status, mapping.text).toBe(403);
      // It may add penalties: it is told which field is wrong.
      expectRefused(await write('/items/entry_penalties', { entry: 'nobody', stage: stageId, kind: 'manual', amount_ms: 1000 }, 'POST', userToken), 'entry', /^entry: expected a uuid/);
    } finally {
      await call(stack, `/users/${user.json.data.id}`, { token, method: 'DELETE' });
    }
  });

  it('keeps a hand correction of a crossing to a real time from year 1 and to the kinds of crossing', async () => {
    const patch = (body: Record<string, unknown>) => write(`/items/entry_crossings/${crossingId}`, body, 'PATCH');
    expectRefused(await patch({ crossed_at: '0000-01-01T00:00:00Z' }), 'crossed_at', 'crossed_at must be in year 1 or later (0001-01-01T00:00:00Z): Postgres stores no earlier time');
    expectRefused(await patch({ kind: 'nope' }), 'kind', 'expected one of start, split, finish, not "nope"');
    expect(await db('entry_crossings').where({ id: crossingId }).first('kind', 'crossed_at', 'corrected_at')).toEqual({ kind: 'start', crossed_at: crossedAt, corrected_at: null });
    const earliest = await patch({ crossed_at: '0001-01-01T00:00:00Z' });
    expect(earliest.status, earliest.text).toBe(200);
    const back = await patch({ crossed_at: crossedAt.toISOString(), kind: 'start' });
    expect(back.status, back.text).toBe(200);
  });
});
