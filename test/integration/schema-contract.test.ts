import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminToken, call } from '../support/directus-client.ts';

const stack = inject('stack');

/** CONTRACTS section 3, field by field: real clients depend on these names. */
const contract: Record<string, string[]> = {
  device_models: ['id', 'name'],
  devices: ['id', 'imei', 'name', 'model'],
  io_mappings: ['id', 'model', 'io_id', 'attribute', 'value_type', 'byte_size', 'multiplier', 'offset', 'unit', 'invalid_values'],
  events: ['id', 'name', 'slug', 'starts_at', 'ends_at', 'status'],
  entries: ['id', 'event', 'race_number', 'name'],
  entry_devices: ['id', 'entry', 'device', 'valid_from', 'valid_to'],
  stages: ['id', 'event', 'name', 'sort_order', 'opens_at', 'closes_at'],
  geofences: ['id', 'event', 'stage', 'name', 'kind', 'geometry', 'speed_limit_kmh', 'sort_order', 'direction_deg'],
  waypoints: ['id', 'stage', 'name', 'location', 'tolerance_meters', 'sort_order', 'penalty_ms'],
  penalty_formulas: ['id', 'event', 'kind', 'params'],
  entry_crossings: ['id', 'entry', 'stage', 'geofence', 'device_id', 'kind', 'crossed_at', 'speed_kmh', 'source'],
  stage_results: ['id', 'entry', 'stage', 'status', 'started_at', 'finished_at', 'elapsed_ms', 'penalty_ms', 'total_ms', 'rank', 'computed_at'],
  entry_penalties: ['id', 'entry', 'stage', 'kind', 'amount_ms', 'details'],
  anomalies: ['id', 'kind', 'severity', 'entry', 'stage', 'device_id', 'started_at', 'ended_at', 'details'],
  race_events: ['id', 'type', 'version', 'occurred_at', 'source', 'event', 'entry', 'device_id', 'payload'],
  webhook_subscriptions: ['id', 'name', 'url', 'secret', 'event_types', 'active'],
  webhook_deliveries: ['id', 'subscription', 'race_event', 'attempt', 'status_code', 'outcome', 'error', 'duration_ms', 'created_at'],
  replay_runs: ['id', 'status', 'params', 'progress', 'processed', 'total', 'result', 'error', 'started_at', 'finished_at', 'user_created'],
  backfill_runs: ['id', 'status', 'params', 'progress', 'processed', 'total', 'result', 'error', 'started_at', 'finished_at', 'user_created'],
};

const relations: [string, string, string][] = [
  ['devices', 'model', 'device_models'],
  ['io_mappings', 'model', 'device_models'],
  ['entries', 'event', 'events'],
  ['entry_devices', 'entry', 'entries'],
  ['entry_devices', 'device', 'devices'],
  ['stages', 'event', 'events'],
  ['geofences', 'event', 'events'],
  ['geofences', 'stage', 'stages'],
  ['waypoints', 'stage', 'stages'],
  ['penalty_formulas', 'event', 'events'],
  ['entry_crossings', 'entry', 'entries'],
  ['entry_crossings', 'stage', 'stages'],
  ['entry_crossings', 'geofence', 'geofences'],
  ['stage_results', 'entry', 'entries'],
  ['stage_results', 'stage', 'stages'],
  ['entry_penalties', 'entry', 'entries'],
  ['anomalies', 'entry', 'entries'],
  ['race_events', 'event', 'events'],
  ['race_events', 'entry', 'entries'],
  ['webhook_deliveries', 'subscription', 'webhook_subscriptions'],
  ['webhook_deliveries', 'race_event', 'race_events'],
];

describe('business-plane schema (CONTRACTS section 3)', () => {
  let fields: { collection: string; field: string; type: string; meta: { hidden: boolean; interface: string | null } | null }[];
  let collections: { collection: string; meta: { group: string | null; icon: string | null; display_template: string | null } | null; schema: unknown }[];
  let token: string;

  beforeAll(async () => {
    token = await adminToken(stack);
    fields = (await call(stack, '/fields', { token })).json.data;
    collections = (await call(stack, '/collections', { token })).json.data;
  });

  it.each(Object.entries(contract))('%s has every contract field', (collection, names) => {
    const have = fields.filter((f) => f.collection === collection).map((f) => f.field);
    expect(have).toEqual(expect.arrayContaining(names));
  });

  it('has every contract relation as a real foreign key', async () => {
    const all = (await call(stack, '/relations', { token })).json.data as { collection: string; field: string; related_collection: string; schema: { foreign_key_table: string } | null }[];
    for (const [collection, field, related] of relations) {
      const relation = all.find((r) => r.collection === collection && r.field === field);
      expect(relation, `${collection}.${field}`).toBeDefined();
      expect(relation!.related_collection).toBe(related);
      expect(relation!.schema?.foreign_key_table, `${collection}.${field} foreign key`).toBe(related);
    }
  });

  it('stores geometry in PostGIS with SRID 4326 and edits it on the map', async () => {
    const db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 1 } });
    try {
      const { rows } = await db.raw(`SELECT f_table_name AS t, f_geometry_column AS c, type, srid FROM geometry_columns ORDER BY 1`);
      expect(rows).toEqual([
        { t: 'geofences', c: 'geometry', type: 'GEOMETRY', srid: 4326 },
        { t: 'waypoints', c: 'location', type: 'POINT', srid: 4326 },
      ]);
    } finally {
      await db.destroy();
    }
    const geometry = fields.filter((f) => f.type.startsWith('geometry'));
    expect(geometry.map((f) => [f.collection, f.field, f.meta?.interface])).toEqual(
      expect.arrayContaining([
        ['geofences', 'geometry', 'map'],
        ['waypoints', 'location', 'map'],
      ]),
    );
  });

  it('groups every collection into the four folders, each with an icon and a display template', () => {
    const folders = ['pitwall_race_setup', 'pitwall_timing', 'pitwall_telemetry', 'pitwall_system'];
    for (const folder of folders) expect(collections.find((c) => c.collection === folder)?.schema).toBeNull();
    for (const name of Object.keys(contract)) {
      const collection = collections.find((c) => c.collection === name);
      expect(folders, name).toContain(collection?.meta?.group);
      expect(collection?.meta?.icon, name).toBeTruthy();
      expect(collection?.meta?.display_template, name).toMatch(/\{\{.+\}\}/);
    }
  });

  it('stays well within the 25 active collections of an unlicensed Directus 12', () => {
    // Directus 12 counts managed collections with a table: not folders, not tables it only sees in the database.
    const ours = new Set(Object.keys(contract));
    const counted = collections.filter((c) => ours.has(c.collection) && c.schema !== null && c.meta !== null);
    expect(counted).toHaveLength(19);
  });

  it('keeps the webhook secret as Directus keeps its own API keys: encrypted, set through a masked input', () => {
    const secret = fields.find((f) => f.collection === 'webhook_subscriptions' && f.field === 'secret');
    expect(secret?.meta).toMatchObject({ interface: 'input-hash', special: ['encrypt'] });
    expect((secret?.meta as unknown as { options: { masked: boolean } }).options.masked).toBe(true);
    expect(secret?.type).toBe('text');
  });
});

describe('telemetry-plane tables (CONTRACTS section 2)', () => {
  const db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 1 } });
  afterAll(() => db.destroy());

  it('has positions and decoded_attributes with the contract columns', async () => {
    const { rows } = await db.raw(
      `SELECT table_name, column_name, data_type FROM information_schema.columns
       WHERE table_name IN ('positions', 'decoded_attributes') ORDER BY table_name, ordinal_position`,
    );
    const columns = (table: string) => rows.filter((r: { table_name: string }) => r.table_name === table).map((r: { column_name: string; data_type: string }) => `${r.column_name}:${r.data_type}`);
    expect(columns('positions')).toEqual([
      'device_id:text', 'ts:timestamp with time zone', 'latitude:double precision', 'longitude:double precision', 'altitude:real',
      'angle:real', 'speed:real', 'satellites:smallint', 'priority:smallint', 'attributes:jsonb', 'codec:text',
      'ingested_at:timestamp with time zone', 'faulty:boolean',
    ]);
    expect(columns('decoded_attributes')).toEqual([
      'device_id:text', 'ts:timestamp with time zone', 'attributes:jsonb', 'mapping_version:text', 'decoded_at:timestamp with time zone',
    ]);
  });

  it('keys positions on (device_id, ts) and decoded_attributes likewise', async () => {
    const { rows } = await db.raw(
      `SELECT c.conrelid::regclass::text AS t, c.contype, pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
       WHERE c.conrelid IN ('positions'::regclass, 'decoded_attributes'::regclass) ORDER BY 1`,
    );
    expect(rows).toEqual([
      { t: 'decoded_attributes', contype: 'p', def: 'PRIMARY KEY (device_id, ts)' },
      { t: 'positions', contype: 'u', def: 'UNIQUE (device_id, ts)' },
    ]);
  });
});
