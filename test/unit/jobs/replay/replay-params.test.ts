import { describe, expect, it } from 'vitest';
import { replayParamsSchema } from '../../../../src/jobs/replay/replay-params.ts';

const event = '6a3b1c2d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const stage = '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e';
const base = { event, from: '2026-11-28T09:00:00Z', to: '2026-11-28T12:00:00Z', mode: 'preview' as const };
const finish = { stage, name: 'SS1 finish', kind: 'finish_line', geometry: { type: 'LineString', coordinates: [[-4.1, 31.4], [-4.1, 31.41]] } };
const zone = {
  stage, name: 'Village', kind: 'speed_zone', speed_limit_kmh: 50,
  geometry: { type: 'Polygon', coordinates: [[[-4.2, 31.4], [-4.19, 31.4], [-4.19, 31.41], [-4.2, 31.4]]] },
};
const messages = (input: unknown) => {
  const parsed = replayParamsSchema.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('replay parameters', () => {
  it('accept an event replay, and entries or trackers instead of an event', () => {
    expect(messages(base)).toEqual([]);
    expect(messages({ ...base, event: undefined, entries: [stage] })).toEqual([]);
    expect(messages({ ...base, event: undefined, devices: ['350936080010011'], mode: 'apply' })).toEqual([]);
  });

  it('accept any id Directus stores, version digit 0 included, and refuse what is no id', () => {
    const imported = '00000000-0000-0000-0000-000000000001';
    expect(messages({ ...base, event: imported, stage: imported, entries: [imported.toUpperCase()] })).toEqual([]);
    expect(messages({ ...base, event: 'abc' })).toEqual(['event: Invalid UUID']);
  });

  it('accept a candidate layout of lines and zones', () => {
    expect(messages({ ...base, stage, geofences: [finish, zone] })).toEqual([]);
  });

  it('refuse a candidate line named with a NUL or a lone surrogate, which broke every JSON read of the runs', () => {
    expect(messages({ ...base, stage, geofences: [{ ...finish, name: 'a\u0000b' }] })).toEqual(['geofences.0.name: a NUL character at position 1, which Postgres cannot store as text']);
    expect(messages({ ...base, stage, geofences: [{ ...finish, name: '\ud800' }] })).toEqual(['geofences.0.name: a lone UTF-16 surrogate at position 0, which Postgres cannot store as text']);
  });

  it('refuse a tracker id no stored position can have, before it reaches the database (a NUL made Postgres answer 500)', () => {
    for (const device of ['35\u0000', '', '3509 3608', 'x'.repeat(65)]) {
      expect(messages({ ...base, devices: [device] })).toEqual(['devices.0: expected a tracker id (IMEI) of 1-64 letters or digits']);
    }
  });

  it('keep each entry and tracker once, in the order given', () => {
    const parsed = replayParamsSchema.parse({ ...base, entries: [stage, event, stage, stage], devices: ['350936080010011', '350936080010012', '350936080010011'] });
    expect(parsed.entries).toEqual([stage, event]);
    expect(parsed.devices).toEqual(['350936080010011', '350936080010012']);
  });

  it('need something to replay', () => {
    expect(messages({ ...base, event: undefined })).toEqual([': name what to replay: event, entries or devices (at least one)']);
  });

  it('need from before to, both ISO date-times', () => {
    expect(messages({ ...base, to: base.from })).toEqual(['to: `to` must be later than `from`']);
    expect(messages({ ...base, from: 'yesterday' })[0]).toMatch(/^from: expected an ISO-8601 date and time/);
    // A `from` JavaScript reads as a date but the ISO check refuses is that field's problem alone.
    expect(messages({ ...base, from: '+275760-09-13T00:00:00Z' })).toEqual(['from: expected an ISO-8601 date and time, e.g. 2026-11-28T09:00:00Z']);
  });

  it('refuse an unknown mode, unknown fields and ids that are not uuids', () => {
    expect(messages({ ...base, mode: 'dry-run' })[0]).toMatch(/^mode:/);
    expect(messages({ ...base, speed: 2 })[0]).toMatch(/speed/);
    expect(messages({ ...base, entries: ['101'] })[0]).toMatch(/^entries\.0:/);
  });

  it('check that each geofence has the geometry its kind needs', () => {
    expect(messages({ ...base, geofences: [{ ...finish, geometry: zone.geometry }] })).toEqual(['geofences.0.geometry: a finish_line needs a LineString geometry']);
    expect(messages({ ...base, geofences: [{ ...zone, geometry: finish.geometry }] })).toEqual(['geofences.0.geometry: a speed_zone needs a Polygon geometry']);
    // What the engine refuses besides the shape: said at the request, not as a failed run.
    expect(messages({ ...base, geofences: [{ ...finish, geometry: { type: 'LineString', coordinates: [[179.5, 10], [-179.5, 10]] } }] })).toEqual(['geofences.0.geometry: a finish_line crosses the antimeridian, which is not supported']);
    expect(messages({ ...base, geofences: [{ ...finish, geometry: { type: 'LineString', coordinates: [[5, 90], [5.1, 90]] } }] })).toEqual(['geofences.0.geometry: a finish_line has an invalid position [5, 90]']);
    expect(messages({ ...base, geofences: [{ ...zone, speed_limit_kmh: null }] })).toEqual(['geofences.0.speed_limit_kmh: a speed_zone needs speed_limit_kmh']);
    expect(messages({ ...base, geofences: [{ ...finish, geometry: { type: 'LineString', coordinates: [[-4.1, 31.4]] } }] })).toEqual([
      'geofences.0.geometry.coordinates: a LineString needs at least two positions',
    ]);
    const open = { ...zone, geometry: { type: 'Polygon', coordinates: [[[-4.2, 31.4], [-4.19, 31.4], [-4.19, 31.41], [-4.2, 31.42]]] } };
    expect(messages({ ...base, geofences: [open] })).toEqual(['geofences.0.geometry.coordinates.0: a polygon ring must end where it starts']);
  });

  it('take ids in upper case as the same ids, in lower case', () => {
    const parsed = replayParamsSchema.parse({ ...base, event: event.toUpperCase(), stage: stage.toUpperCase(), entries: [stage.toUpperCase()], geofences: [{ ...finish, id: event.toUpperCase(), stage: stage.toUpperCase() }] });
    expect(parsed).toMatchObject({ event, stage, entries: [stage], geofences: [{ id: event, stage }] });
  });

  it('refuse a time before year 1, which Postgres does not store, naming the field', () => {
    expect(messages({ ...base, from: '0000-01-01T00:00:00Z' })).toEqual(['from: must be in year 1 or later (0001-01-01T00:00:00Z): Postgres stores no earlier time']);
    expect(messages({ ...base, from: '0001-01-01T00:00:00+01:00' })).toEqual(['from: must be in year 1 or later (0001-01-01T00:00:00Z): Postgres stores no earlier time']);
    expect(messages({ ...base, from: '0001-01-01T00:00:00Z' })).toEqual([]);
    // Text that is no time is told so, once.
    expect(messages({ ...base, from: 'yesterday' })).toHaveLength(1);
    expect(messages({ ...base, to: '9999-12-31T23:59:59-14:00' })).toEqual([]);
  });
});
