import type { Knex } from 'knex';
import type { Course, Gate, LonLat, Stage, Waypoint, Zone } from '../domain/course.ts';
import { waypointProblem } from '../domain/geofence/check-course.ts';
import { geofenceRowProblems } from '../domain/geofence/geofence-row.ts';
import type { IoMapping } from '../domain/io/index.ts';
import { speedingParams, type SpeedingParams } from '../domain/penalties/penalty-formula.ts';
import type { EntryAssignment } from '../domain/pipeline/pipeline-context.ts';

/** Everything the racing pipeline reads from the business plane, for the events of a time window. */
export interface RaceSetup {
  course: Course;
  /** entry_devices by tracker IMEI. */
  assignments: Map<string, EntryAssignment[]>;
  /** Device model by tracker IMEI, and each model's IO mapping. */
  modelOfDevice: Map<string, string>;
  mappings: Map<string, IoMapping[]>;
  speeding: Map<string, SpeedingParams>;
  /** Problems found in the setup (a bad formula, a geofence of the wrong shape): reported, not fatal. */
  problems: string[];
}

const ms = (value: Date | string | null): number | null => (value === null ? null : new Date(value).getTime());

/** Postgres "relation does not exist": a database without the Directus collections (telemetry only). */
const isMissingTable = (error: unknown) => (error as { code?: string })?.code === '42P01';

/** Events overlapping [from, to]; with `eventId`, only that event whatever its dates (a replay of one event). */
export interface SetupWindow {
  from: number;
  to: number;
  eventId?: string;
}

/**
 * Reads the race setup straight from the Directus tables: reads only, so that the processor keeps timing from
 * the last known setup even while Directus itself is down.
 */
export async function loadRaceSetup(db: Knex, window: SetupWindow): Promise<RaceSetup> {
  const empty: RaceSetup = { course: { stages: [], gates: [], zones: [], waypoints: [] }, assignments: new Map(), modelOfDevice: new Map(), mappings: new Map(), speeding: new Map(), problems: [] };
  try {
    return await load(db, window);
  } catch (error) {
    if (isMissingTable(error)) return { ...empty, problems: ['the Directus collections do not exist in this database: positions only'] };
    throw error;
  }
}

async function load(db: Knex, { from, to, eventId }: SetupWindow): Promise<RaceSetup> {
  const problems: string[] = [];
  const events = eventId
    ? db('events').select('id').where('id', eventId)
    : db('events').select('id').where('ends_at', '>=', new Date(from)).andWhere('starts_at', '<=', new Date(to));
  const [stages, geofences, waypoints, assignments, devices, mappings, formulas] = await Promise.all([
    db('stages').select('id', 'event', 'name', 'sort_order', 'opens_at', 'closes_at').whereIn('event', events),
    db('geofences')
      .select('id', 'event', 'stage', 'name', 'kind', 'speed_limit_kmh', 'sort_order', 'direction_deg', db.raw('ST_AsGeoJSON(geometry)::json AS geojson'))
      .whereIn('event', events),
    db('waypoints as w')
      .join('stages as s', 's.id', 'w.stage')
      .select('w.id', 'w.stage', 'w.name', 'w.tolerance_meters', 'w.sort_order', 'w.penalty_ms', db.raw('ST_AsGeoJSON(w.location)::json AS geojson'))
      .whereIn('s.event', events),
    db('entry_devices as ed')
      .join('entries as e', 'e.id', 'ed.entry')
      .join('devices as d', 'd.id', 'ed.device')
      // `role` through to_jsonb: a database whose setup has not added the column yet reads every tracker as primary.
      .select('d.imei', 'ed.entry', 'e.event', 'ed.valid_from', 'ed.valid_to', db.raw("to_jsonb(ed.*)->>'role' AS role"))
      .whereIn('e.event', events)
      // A stable order: where an anomaly of a tracker in two events at once names one entry, always the same one.
      .orderBy(['ed.entry', 'ed.valid_from']),
    db('devices').select('imei', 'model'),
    db('io_mappings').select('model', 'io_id', 'attribute', 'value_type', 'byte_size', 'multiplier', 'offset', 'unit', 'invalid_values'),
    db('penalty_formulas').select('event', 'kind', 'params').whereIn('event', events),
  ]);

  const course: Course = {
    stages: stages.map((s): Stage => ({ id: s.id, eventId: s.event, name: s.name, sortOrder: s.sort_order, opensAt: ms(s.opens_at)!, closesAt: ms(s.closes_at)! })),
    gates: [],
    zones: [],
    waypoints: waypoints.map((w): Waypoint => ({
      id: w.id,
      stageId: w.stage,
      name: w.name,
      // Not a point (no location at all): an invalid position, which waypointProblem names below.
      location: (w.geojson?.type === 'Point' ? w.geojson.coordinates : [Number.NaN, Number.NaN]) as LonLat,
      toleranceMeters: Number(w.tolerance_meters),
      sortOrder: w.sort_order,
      penaltyMs: Number(w.penalty_ms),
    })),
  };
  for (const g of geofences) {
    const geometry = g.geojson as { type: string; coordinates: unknown } | null;
    // One geofence the engine cannot use is left out, named, rather than failing the whole setup: the rest of the
    // race (entries added since, other stages) keeps being timed.
    const issues = geofenceRowProblems({ ...g, geometry });
    if (issues.length > 0) {
      problems.push(`geofence ${g.name} (${g.id}): ${issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ')}`);
    } else if (g.kind === 'zone' || g.kind === 'speed_zone') {
      course.zones.push({ id: g.id, eventId: g.event, stageId: g.stage, kind: g.kind, name: g.name, polygon: geometry!.coordinates as LonLat[][], speedLimitKmh: g.speed_limit_kmh === null ? null : Number(g.speed_limit_kmh) } satisfies Zone);
    } else {
      course.gates.push({ id: g.id, stageId: g.stage, kind: g.kind, name: g.name, line: geometry!.coordinates as LonLat[], directionDeg: g.direction_deg === null ? null : Number(g.direction_deg), sortOrder: g.sort_order } satisfies Gate);
    }
  }
  course.waypoints = course.waypoints.filter((waypoint) => {
    const problem = waypointProblem(waypoint);
    if (problem) problems.push(`waypoint ${waypoint.name} (${waypoint.id}): ${problem}`);
    return problem === null;
  });

  const byDevice = new Map<string, EntryAssignment[]>();
  for (const a of assignments) {
    const list = byDevice.get(a.imei) ?? [];
    list.push({ entryId: a.entry, eventId: a.event, validFrom: ms(a.valid_from), validTo: ms(a.valid_to), role: a.role === 'backup' ? 'backup' : 'primary' });
    byDevice.set(a.imei, list);
  }
  const byModel = new Map<string, IoMapping[]>();
  for (const m of mappings) {
    const list = byModel.get(m.model) ?? [];
    list.push({ ioId: m.io_id, attribute: m.attribute, valueType: m.value_type, byteSize: m.byte_size, multiplier: Number(m.multiplier), offset: Number(m.offset), unit: m.unit, invalidValues: m.invalid_values });
    byModel.set(m.model, list);
  }
  const speeding = new Map<string, SpeedingParams>();
  for (const f of formulas.filter((f) => f.kind === 'speeding')) {
    const parsed = speedingParams.safeParse(f.params);
    if (parsed.success) speeding.set(f.event, parsed.data);
    else problems.push(`penalty formula of event ${f.event}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return { course, assignments: byDevice, modelOfDevice: new Map(devices.map((d) => [d.imei, d.model])), mappings: byModel, speeding, problems };
}
