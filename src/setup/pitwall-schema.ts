import {
  bigInteger,
  boolean,
  decimal,
  choice,
  clockTimestamp,
  dateCreated,
  float,
  geometry,
  integer,
  json,
  manyToOne,
  milliseconds,
  oneToMany,
  preciseTimestamp,
  progress,
  secret,
  slug,
  tags,
  text,
  timestamp,
  userCreated,
  uuidPrimaryKey,
  type FieldDef,
  type ManyToOne,
  type RelationDef,
} from './field-kinds.ts';
import { MAX_HAND_PENALTY_MS } from '../domain/penalties/hand-penalty-problem.ts';

/**
 * The business plane of CONTRACTS section 3 as Directus collections. Setup creates what is missing and never
 * changes or drops what exists (see plan-schema.ts).
 */
export interface CollectionDef {
  collection: string;
  /** Folders have no table. */
  folder?: boolean;
  meta: Record<string, unknown>;
  fields: FieldDef[];
  relations: RelationDef[];
}

/** The note of a crossing's `device_id`; an earlier setup said only "Tracker IMEI", and required it in the form. */
export const CROSSING_DEVICE_NOTE = "Tracker IMEI. Leave it empty on a crossing set by hand: it is then the entry's tracker at that time.";
/** Penalties read "#101 speeding +0:10": amount_ms is shown as race time (it read "+10000 ms" before). */
export const ENTRY_PENALTY_TEMPLATE = '#{{entry.race_number}} {{kind}} +{{amount_ms}}';

/**
 * Results read "#101 SS1 · Finished · 3:20.5": a result's title must make sense without a rank or a time yet (the
 * rank first read "--. #101 --" for a car still running).
 */
export const STAGE_RESULT_TEMPLATE = '#{{entry.race_number}} {{stage.name}} · {{status}} · {{total_ms}}';

/** Where the demo race is, so every map opens over it rather than over the Atlantic. */
const raceArea = { center: { lng: -4.17, lat: 31.39 }, zoom: 11 };

const folder = (collection: string, sort: number, icon: string, note: string): CollectionDef => ({
  collection,
  folder: true,
  meta: { icon, note, sort, collapse: 'open', hidden: false },
  fields: [],
  relations: [],
});

function collection(
  name: string,
  meta: {
    group: string;
    sort: number;
    icon: string;
    note: string;
    display_template: string;
    sort_field?: string;
    accountability?: 'all' | null;
    translations?: { language: string; translation: string; singular: string; plural: string }[];
  },
  parts: (FieldDef | ManyToOne)[],
): CollectionDef {
  const fields: FieldDef[] = [uuidPrimaryKey()];
  const relations: RelationDef[] = [];
  for (const part of parts) {
    if ('relation' in part) {
      fields.push(part.field);
      relations.push({ ...part.relation, collection: name });
    } else {
      fields.push(part);
    }
  }
  if (fields.some((f) => f.field === 'user_created')) {
    relations.push({ collection: name, field: 'user_created', related_collection: 'directus_users', schema: { on_delete: 'SET NULL' }, meta: { one_field: null, sort_field: null } });
  }
  return { collection: name, meta: { hidden: false, singleton: false, accountability: 'all', ...meta }, fields, relations };
}

const kindColors = { start: '#2ECDA7', split: '#3399FF', finish: '#A2B5CD' };
const severity = [
  { value: 'info', text: 'Info', color: '#3399FF' },
  { value: 'warning', text: 'Warning', color: '#FFA439' },
  { value: 'critical', text: 'Critical', color: '#E35169' },
];
const runStatus = [
  { value: 'queued', text: 'Queued', color: '#A2B5CD' },
  { value: 'running', text: 'Running', color: '#3399FF' },
  { value: 'succeeded', text: 'Succeeded', color: '#2ECDA7' },
  { value: 'failed', text: 'Failed', color: '#E35169' },
  { value: 'cancelled', text: 'Cancelled', color: '#FFA439' },
];
const eventSource = [
  { value: 'live', text: 'Live', color: '#2ECDA7' },
  { value: 'replay', text: 'Replay', color: '#3399FF' },
  { value: 'backfill', text: 'Backfill', color: '#A2B5CD' },
  { value: 'system', text: 'System', color: '#FFA439' },
];

function runCollection(name: string, sort: number, icon: string, note: string): CollectionDef {
  return collection(name, { group: 'pitwall_system', sort, icon, note, display_template: '{{status}} · {{started_at}}', sort_field: undefined }, [
    choice('status', runStatus, { required: true, defaultValue: 'queued' }),
    progress('progress', { readonly: true }),
    // Counts of positions: a backfill of a large fleet over weeks can pass 2^31, so these stay 8-byte (the
    // bundle's run readers turn them into numbers).
    bigInteger('processed', { readonly: true, defaultValue: 0 }),
    bigInteger('total', { readonly: true }),
    json('params', { width: 'full', note: 'What was asked: devices or entries, time range, mode.' }),
    json('result', { width: 'full', readonly: true }),
    text('error', { width: 'full', readonly: true, multiline: true }),
    timestamp('started_at', { readonly: true }),
    timestamp('finished_at', { readonly: true }),
    // The runner's bookkeeping: a run whose heartbeat stops was interrupted and is resumed or failed.
    timestamp('heartbeat_at', { readonly: true, hidden: true }),
    integer('attempts', { readonly: true, hidden: true, defaultValue: 0 }),
    json('checkpoint', { readonly: true, hidden: true }),
    // The Idempotency-Key header the run was asked with: a client that sends a request again (its answer was lost)
    // gets this run back instead of a second one. Unique per user (compositeUniques).
    text('request_key', { readonly: true, hidden: true }),
    userCreated(),
    dateCreated(),
  ]);
}

export const pitwallCollections: CollectionDef[] = [
  folder('pitwall_race_setup', 1, 'flag', 'Events, entries, stages and their geofences'),
  folder('pitwall_timing', 2, 'timer', 'Crossings, results, penalties and anomalies computed by Pitwall'),
  folder('pitwall_telemetry', 3, 'satellite_alt', 'Trackers and how their IO elements are decoded'),
  folder('pitwall_system', 4, 'settings_suggest', 'Race events for Flows, webhooks, replay and backfill runs'),

  // Race setup
  collection('events', { group: 'pitwall_race_setup', sort: 1, icon: 'emoji_events', note: 'A race meeting: one rally, rally-raid or enduro', display_template: '{{name}}' }, [
    text('name', { required: true }),
    slug('slug', { required: true, unique: true }),
    timestamp('starts_at', { required: true }),
    timestamp('ends_at', { required: true }),
    choice('status', [
      { value: 'draft', text: 'Draft', color: '#A2B5CD' },
      { value: 'scheduled', text: 'Scheduled', color: '#3399FF' },
      { value: 'running', text: 'Running', color: '#2ECDA7' },
      { value: 'finished', text: 'Finished', color: '#6644FF' },
      { value: 'cancelled', text: 'Cancelled', color: '#E35169' },
    ], { required: true, defaultValue: 'draft' }),
    oneToMany('stages', { fields: ['sort_order', 'name', 'opens_at', 'closes_at'], template: '{{sort_order}}. {{name}}' }),
    oneToMany('entries', { fields: ['race_number', 'name'], template: '#{{race_number}} {{name}}' }),
  ]),
  collection('stages', { group: 'pitwall_race_setup', sort: 2, icon: 'route', note: 'A timed special stage of an event', display_template: '{{event.name}} · {{name}}', sort_field: 'sort_order' }, [
    manyToOne('event', 'events', { required: true, template: '{{name}}', onDelete: 'CASCADE', oneField: 'stages' }),
    text('name', { required: true }),
    integer('sort_order', { required: true, defaultValue: 1 }),
    timestamp('opens_at', { required: true, note: 'Crossings are timed only inside this window.' }),
    timestamp('closes_at', { required: true, note: 'Entries without a finish by now are DNF.' }),
    oneToMany('geofences', { fields: ['kind', 'name'], template: '{{kind}} · {{name}}' }),
    oneToMany('waypoints', { fields: ['sort_order', 'name', 'tolerance_meters'], template: '{{sort_order}}. {{name}}' }),
  ]),
  collection('geofences', { group: 'pitwall_race_setup', sort: 3, icon: 'fence', note: 'Start, split and finish lines, zones and speed zones', display_template: '{{name}} ({{kind}})', sort_field: 'sort_order' }, [
    manyToOne('event', 'events', { required: true, template: '{{name}}', onDelete: 'CASCADE' }),
    manyToOne('stage', 'stages', { template: '{{name}}', onDelete: 'CASCADE', oneField: 'geofences', note: 'Empty for a zone that applies to the whole event.' }),
    text('name', { required: true }),
    choice('kind', [
      { value: 'start_line', text: 'Start line', color: kindColors.start },
      { value: 'split_line', text: 'Split line', color: kindColors.split },
      { value: 'finish_line', text: 'Finish line', color: kindColors.finish },
      { value: 'zone', text: 'Zone', color: '#FFA439' },
      { value: 'speed_zone', text: 'Speed zone', color: '#E35169' },
    ], { required: true }),
    geometry('geometry', null, { required: true, width: 'full', ...raceArea, note: 'A line for start, split and finish; a polygon for zones.' }),
    float('speed_limit_kmh', { suffix: ' km/h', note: 'Speed zones only.' }),
    integer('sort_order', { note: 'Order of split lines within the stage.' }),
    float('direction_deg', { note: 'Travel bearing that counts (±90°). Empty: both directions count.' }),
  ]),
  collection('waypoints', { group: 'pitwall_race_setup', sort: 4, icon: 'where_to_vote', note: 'Points every competitor must pass within a tolerance', display_template: '{{name}}', sort_field: 'sort_order' }, [
    manyToOne('stage', 'stages', { required: true, template: '{{name}}', onDelete: 'CASCADE', oneField: 'waypoints' }),
    text('name', { required: true }),
    geometry('location', 'Point', { required: true, width: 'full', ...raceArea }),
    float('tolerance_meters', { required: true, defaultValue: 90, suffix: ' m' }),
    integer('sort_order', { required: true, defaultValue: 1 }),
    milliseconds('penalty_ms', { required: true, defaultValue: 0, note: 'Added to the stage time when missed.' }),
  ]),
  collection('entries', { group: 'pitwall_race_setup', sort: 5, icon: 'sports_motorsports', note: 'A competitor (car, bike, crew) in an event', display_template: '#{{race_number}} {{name}}', sort_field: undefined }, [
    manyToOne('event', 'events', { required: true, template: '{{name}}', onDelete: 'CASCADE', oneField: 'entries' }),
    integer('race_number', { required: true, min: 0 }),
    text('name', { required: true }),
    text('category', { note: 'Class, e.g. T1 or Bike.' }),
    oneToMany('devices', { fields: ['device', 'role', 'valid_from', 'valid_to'], template: '{{device.name}} ({{role}})', note: 'Trackers carried by this entry.' }),
  ]),
  collection('entry_devices', { group: 'pitwall_race_setup', sort: 6, icon: 'link', note: 'Which tracker an entry carries, and when', display_template: '{{entry.race_number}} ↔ {{device.imei}}' }, [
    manyToOne('entry', 'entries', { required: true, template: '#{{race_number}} {{name}}', onDelete: 'CASCADE', oneField: 'devices' }),
    manyToOne('device', 'devices', { required: true, template: '{{name}} ({{imei}})', onDelete: 'RESTRICT' }),
    timestamp('valid_from', { note: 'Empty: from the start of the event.' }),
    timestamp('valid_to', { note: 'Empty: until the end of the event.' }),
    choice('role', [
      { value: 'primary', text: 'Primary', color: '#2ECDA7' },
      { value: 'backup', text: 'Backup', color: '#A2B5CD' },
    ], { required: true, defaultValue: 'primary', note: 'An entry with two trackers is timed from its primary where the primary has the data, from the backup where it does not.' }),
  ]),
  collection('penalty_formulas', { group: 'pitwall_race_setup', sort: 7, icon: 'gavel', note: 'The numbers of penalty rules; the math is in Pitwall', display_template: '{{kind}}' }, [
    manyToOne('event', 'events', { required: true, template: '{{name}}', onDelete: 'CASCADE' }),
    choice('kind', [
      { value: 'speeding', text: 'Speeding', color: '#E35169' },
      { value: 'missed_waypoint', text: 'Missed waypoint', color: '#FFA439' },
    ], { required: true }),
    json('params', { required: true, width: 'full', note: 'For speeding: {"basis":"time","brackets":[{"over_kmh":0,"penalty_ms_per_s":1000}]}' }),
  ]),

  // Timing (written by Pitwall through its endpoint; timekeepers may correct them)
  collection('entry_crossings', { group: 'pitwall_timing', sort: 1, icon: 'sports_score', note: 'When an entry crossed a start, split or finish line', display_template: '#{{entry.race_number}} {{kind}} {{crossed_at}}' }, [
    manyToOne('entry', 'entries', { required: true, template: '#{{race_number}} {{name}}', onDelete: 'CASCADE' }),
    manyToOne('stage', 'stages', { required: true, template: '{{name}}', onDelete: 'CASCADE' }),
    manyToOne('geofence', 'geofences', { required: true, template: '{{name}}', onDelete: 'CASCADE' }),
    // A stopwatch time has no tracker of its own, and a timekeeper knows no IMEIs (timing-guard fills it in).
    text('device_id', { required: true, filledByHook: true, note: CROSSING_DEVICE_NOTE }),
    choice('kind', [
      { value: 'start', text: 'Start', color: kindColors.start },
      { value: 'split', text: 'Split', color: kindColors.split },
      { value: 'finish', text: 'Finish', color: kindColors.finish },
    ], { required: true }),
    preciseTimestamp('crossed_at', { required: true, note: 'Interpolated between the two fixes around the line, to the millisecond.' }),
    float('speed_kmh', { suffix: ' km/h' }),
    choice('source', eventSource.slice(0, 2), { required: true, defaultValue: 'live' }),
    // Set by the hook when a person writes the crossing's time: the officials' word, which the pipeline keeps.
    timestamp('corrected_at', { note: 'Set when the time was corrected or the crossing added by hand: the pipeline (live or replay) then leaves this crossing as it is and times the result from it. Clear it to give the crossing back to the pipeline.' }),
  ]),
  collection('stage_results', { group: 'pitwall_timing', sort: 2, icon: 'leaderboard', note: 'Stage times and ranks', display_template: STAGE_RESULT_TEMPLATE }, [
    manyToOne('entry', 'entries', { required: true, template: '#{{race_number}} {{name}}', onDelete: 'CASCADE' }),
    manyToOne('stage', 'stages', { required: true, template: '{{name}}', onDelete: 'CASCADE' }),
    choice('status', [
      { value: 'running', text: 'Running', color: '#3399FF' },
      { value: 'finished', text: 'Finished', color: '#2ECDA7' },
      { value: 'dnf', text: 'DNF', color: '#E35169' },
    ], { required: true }),
    timestamp('started_at'),
    timestamp('finished_at'),
    milliseconds('elapsed_ms'),
    milliseconds('penalty_ms', { defaultValue: 0 }),
    milliseconds('total_ms'),
    integer('rank'),
    milliseconds('gap_ms', { signed: true, readonly: true, note: 'Behind the stage leader (empty for the leader and the unranked); set by Pitwall when it ranks.' }),
    timestamp('computed_at', { readonly: true }),
  ]),
  collection('entry_penalties', { group: 'pitwall_timing', sort: 3, icon: 'gavel', note: 'Time penalties with their reason', display_template: ENTRY_PENALTY_TEMPLATE }, [
    manyToOne('entry', 'entries', { required: true, template: '#{{race_number}} {{name}}', onDelete: 'CASCADE' }),
    manyToOne('stage', 'stages', { required: true, template: '{{name}}', onDelete: 'CASCADE' }),
    choice('kind', [
      { value: 'missed_waypoint', text: 'Missed waypoint', color: '#FFA439' },
      { value: 'speeding', text: 'Speeding', color: '#E35169' },
      { value: 'manual', text: 'Manual', color: '#A2B5CD' },
    ], { required: true }),
    milliseconds('amount_ms', { required: true, maxMs: MAX_HAND_PENALTY_MS, note: 'At most 100:00:00 for one penalty.' }),
    // The officials' words for a penalty they give; the pipeline's own give their evidence in details.
    text('reason', { width: 'full', note: 'Why the penalty was given, for example the stewards\' decision number. A penalty Pitwall computed gives its evidence in Details.' }),
    json('details', { width: 'full' }),
    boolean('waived', {
      defaultValue: false,
      label: 'Waived by the officials',
      note: 'The penalty stays on record but no longer counts in the result. The pipeline keeps writing a computed penalty\'s amount; the waiver stays. Clear it to count the penalty again.',
    }),
    text('waived_reason', { note: 'Why it was waived, for example the stewards\' decision number' }),
  ]),
  collection('anomalies', { group: 'pitwall_timing', sort: 4, icon: 'report', note: 'Things race control should look at', display_template: '{{severity}} {{kind}} · {{device_id}}' }, [
    choice('kind', [
      { value: 'missed_waypoint', text: 'Missed waypoint' },
      { value: 'speeding', text: 'Speeding' },
      { value: 'signal_loss', text: 'Signal loss' },
      { value: 'position_jump', text: 'Position jump' },
      { value: 'late_data', text: 'Late data' },
    ], { required: true }),
    choice('severity', severity, { required: true }),
    manyToOne('entry', 'entries', { template: '#{{race_number}} {{name}}', onDelete: 'CASCADE' }),
    manyToOne('stage', 'stages', { template: '{{name}}', onDelete: 'CASCADE' }),
    text('device_id', { note: 'Tracker IMEI' }),
    clockTimestamp('started_at', { required: true }),
    clockTimestamp('ended_at'),
    json('details', { width: 'full' }),
  ]),

  // Telemetry reference data
  collection('device_models', { group: 'pitwall_telemetry', sort: 1, icon: 'memory', note: 'Tracker models; each has its own IO mapping', display_template: '{{name}}' }, [
    text('name', { required: true, unique: true, placeholder: 'FMB920' }),
    text('vendor', { placeholder: 'Teltonika' }),
    oneToMany('io_mappings', { fields: ['io_id', 'attribute', 'value_type', 'unit'], template: '{{io_id}} → {{attribute}}' }),
  ]),
  collection('devices', { group: 'pitwall_telemetry', sort: 2, icon: 'satellite_alt', note: 'GPS trackers, by IMEI', display_template: '{{name}} ({{imei}})' }, [
    text('imei', { required: true, unique: true, placeholder: '15-digit IMEI' }),
    text('name', { required: true }),
    manyToOne('model', 'device_models', { required: true, template: '{{name}}', onDelete: 'RESTRICT' }),
  ]),
  collection('io_mappings', { group: 'pitwall_telemetry', sort: 3, icon: 'tune', translations: [{ language: 'en-US', translation: 'IO Mappings', singular: 'IO Mapping', plural: 'IO Mappings' }], note: 'How raw IO elements of a model become named, scaled attributes', display_template: '{{io_id}} → {{attribute}}', sort_field: undefined }, [
    manyToOne('model', 'device_models', { required: true, template: '{{name}}', onDelete: 'CASCADE', oneField: 'io_mappings' }),
    integer('io_id', { required: true, min: 0, max: 65535 }),
    text('attribute', { required: true, placeholder: 'external_voltage' }),
    choice('value_type', [
      { value: 'unsigned', text: 'Unsigned integer' },
      { value: 'signed', text: 'Signed integer (two’s complement)' },
      { value: 'boolean', text: 'Boolean' },
      { value: 'hex', text: 'Hex string' },
      { value: 'ascii', text: 'ASCII text' },
    ], { required: true, defaultValue: 'unsigned' }),
    integer('byte_size', { required: true, min: 1, max: 255, suffix: ' B' }),
    decimal('multiplier', 24, 12, { required: true, defaultValue: 1 }),
    decimal('offset', 24, 12, { required: true, defaultValue: 0 }),
    text('unit'),
    tags('invalid_values', { placeholder: 'Raw values meaning "no reading"', note: 'Raw values that mean "no reading", e.g. 850 and 3000 for a Dallas sensor.' }),
  ]),

  // System
  collection('race_events', { group: 'pitwall_system', sort: 1, icon: 'bolt', note: 'Domain events: build Flows on items.create of this collection', display_template: '{{type}} · {{occurred_at}}', accountability: null }, [
    text('type', { required: true, readonly: true }),
    integer('version', { required: true, readonly: true, defaultValue: 1 }),
    timestamp('occurred_at', { required: true, readonly: true }),
    choice('source', eventSource, { required: true, readonly: true }),
    manyToOne('event', 'events', { template: '{{name}}', onDelete: 'SET NULL', readonly: true }),
    manyToOne('entry', 'entries', { template: '#{{race_number}} {{name}}', onDelete: 'SET NULL', readonly: true }),
    text('device_id', { readonly: true }),
    json('payload', { required: true, width: 'full', readonly: true }),
    // When it was written: an integrator reads what it missed by this, not by occurred_at (see README).
    dateCreated('created_at'),
  ]),
  collection('webhook_subscriptions', { group: 'pitwall_system', sort: 2, icon: 'webhook', note: 'Integrators that receive signed race events', display_template: '{{name}}' }, [
    text('name', { required: true }),
    text('url', { required: true, width: 'full', placeholder: 'https://integrator.example/pitwall' }),
    secret('secret', { required: true, note: 'Shared HMAC-SHA256 key; give it to the integrator once.' }),
    tags('event_types', { placeholder: 'Empty: every type', width: 'full' }),
    boolean('active', { defaultValue: true, label: 'Deliver events' }),
  ]),
  collection('webhook_deliveries', { group: 'pitwall_system', sort: 3, icon: 'outgoing_mail', note: 'Each attempt to deliver a race event to an integrator', display_template: '{{outcome}} {{status_code}} · {{created_at}}', accountability: null }, [
    manyToOne('subscription', 'webhook_subscriptions', { template: '{{name}}', onDelete: 'CASCADE', readonly: true }),
    manyToOne('race_event', 'race_events', { template: '{{type}}', onDelete: 'CASCADE', readonly: true }),
    integer('attempt', { readonly: true }),
    integer('status_code', { readonly: true }),
    choice('outcome', [
      { value: 'delivered', text: 'Delivered', color: '#2ECDA7' },
      { value: 'retrying', text: 'Retrying', color: '#FFA439' },
      { value: 'failed', text: 'Failed', color: '#E35169' },
    ], { readonly: true }),
    text('error', { readonly: true, width: 'full', multiline: true }),
    integer('duration_ms', { readonly: true, suffix: ' ms' }),
    dateCreated('created_at'),
  ]),
  runCollection('replay_runs', 4, 'history', 'Replays of stored positions through the timing pipeline'),
  runCollection('backfill_runs', 5, 'restart_alt', 'Recomputations of decoded attributes after an IO mapping change'),
];

/**
 * Uniqueness Directus fields cannot express (several columns), kept by the database so that concurrent writers
 * (processor, replay, a timekeeper) can never store a row twice.
 */
export const compositeUniques: { table: string; name: string; columns: string[] }[] = [
  { table: 'io_mappings', name: 'io_mappings_model_io_id_unique', columns: ['model', 'io_id'] },
  { table: 'entries', name: 'entries_event_race_number_unique', columns: ['event', 'race_number'] },
  { table: 'entry_crossings', name: 'entry_crossings_entry_geofence_crossed_at_unique', columns: ['entry', 'geofence', 'crossed_at'] },
  { table: 'stage_results', name: 'stage_results_entry_stage_unique', columns: ['entry', 'stage'] },
  { table: 'replay_runs', name: 'replay_runs_user_created_request_key_unique', columns: ['user_created', 'request_key'] },
  { table: 'backfill_runs', name: 'backfill_runs_user_created_request_key_unique', columns: ['user_created', 'request_key'] },
];
