import { z } from 'zod';
import { deviceIdSchema } from '../../domain/parse-stream-entry.ts';
import { gateProblem, zoneProblem } from '../../domain/geofence/check-course.ts';
import { unstorableTextProblem } from '../../domain/io/storable-text.ts';
import { once } from '../param-lists.ts';
import { storableTime } from '../storable-time.ts';
import { recordId } from '../../domain/uuid-text.ts';

/**
 * What a replay is asked to do (CONTRACTS section 5, `POST /pitwall/replay`), checked with zod at every entry point
 * (endpoint, Flow operation, CLI): the endpoint answers 400 with these issues.
 */

const lonLat = z.tuple([z.number().min(-180).max(180), z.number().min(-90).max(90)], { error: 'expected a [longitude, latitude] position' });
const lineString = z.strictObject({
  type: z.literal('LineString'),
  coordinates: z.array(lonLat).min(2, 'a LineString needs at least two positions'),
});
const linearRing = z
  .array(lonLat)
  .min(4, 'a polygon ring needs at least four positions')
  .refine((ring) => ring[0]![0] === ring.at(-1)![0] && ring[0]![1] === ring.at(-1)![1], 'a polygon ring must end where it starts');
const polygon = z.strictObject({
  type: z.literal('Polygon'),
  coordinates: z.array(linearRing).min(1, 'a Polygon needs an outer ring'),
});

const lineKinds = ['start_line', 'split_line', 'finish_line'] as const;

/**
 * A uuid in any case, as lower case: Postgres and zod take `8F14E45F-…` for the id it stores as `8f14e45f-…`, but the
 * replay compares ids as text (a stage of the event, the entries asked for), where only one spelling matches.
 */
const uuid = () => recordId().toLowerCase();

/** One row of a candidate layout: the fields of a `geofences` item, geometry as GeoJSON (SRID 4326). */
export const candidateGeofenceSchema = z
  .object({
    /** The stored geofence this row stands for; without it, the stored one of the same stage, kind and order is used. */
    id: uuid().optional(),
    stage: uuid(),
    // Kept in the run's params and result (jsonb): a NUL or a lone surrogate there broke every JSON read of the runs.
    name: z
      .string()
      .min(1)
      .max(255)
      .superRefine((name, ctx) => {
        const problem = unstorableTextProblem(name);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    kind: z.enum(['start_line', 'split_line', 'finish_line', 'zone', 'speed_zone']),
    geometry: z.discriminatedUnion('type', [lineString, polygon], { error: 'expected a GeoJSON LineString or Polygon' }),
    speed_limit_kmh: z.number().positive().nullable().optional(),
    sort_order: z.number().int().nullable().optional(),
    direction_deg: z.number().min(0).max(360).nullable().optional(),
  })
  .superRefine((row, ctx) => {
    const line = (lineKinds as readonly string[]).includes(row.kind);
    if (line && row.geometry.type !== 'LineString') ctx.addIssue({ code: 'custom', path: ['geometry'], message: `a ${row.kind} needs a LineString geometry` });
    if (!line && row.geometry.type !== 'Polygon') ctx.addIssue({ code: 'custom', path: ['geometry'], message: `a ${row.kind} needs a Polygon geometry` });
    // What the engine itself refuses besides (a line across the antimeridian, a pole): said now, not as a failed run.
    // (Only on a geometry its schema took: zod runs this refinement after issues inside the row too.)
    const problem =
      line && row.geometry.type === 'LineString' && lineString.safeParse(row.geometry).success ? gateProblem({ line: row.geometry.coordinates, directionDeg: null })
      : !line && row.geometry.type === 'Polygon' && polygon.safeParse(row.geometry).success ? zoneProblem({ polygon: row.geometry.coordinates })
      : null;
    if (problem) ctx.addIssue({ code: 'custom', path: ['geometry'], message: `a ${row.kind} ${problem}` });
    if (row.kind === 'speed_zone' && (row.speed_limit_kmh ?? null) === null) {
      ctx.addIssue({ code: 'custom', path: ['speed_limit_kmh'], message: 'a speed_zone needs speed_limit_kmh' });
    }
  });

export type CandidateGeofence = z.infer<typeof candidateGeofenceSchema>;

const isoDatetime = storableTime(z.iso.datetime({ offset: true, error: 'expected an ISO-8601 date and time, e.g. 2026-11-28T09:00:00Z' }));

export const replayParamsSchema = z
  .strictObject({
    event: uuid().optional(),
    /** Only the facts of this stage are compared and applied; the pipeline still runs the whole event. */
    stage: uuid().optional(),
    entries: z.array(uuid()).min(1).max(10_000).transform(once).optional(),
    /** Tracker IMEIs. */
    devices: z.array(deviceIdSchema).min(1).max(10_000).transform(once).optional(),
    from: isoDatetime,
    to: isoDatetime,
    mode: z.enum(['preview', 'apply']),
    /** A candidate layout; it replaces the stored geofences of the stages its rows name. */
    geofences: z.array(candidateGeofenceSchema).max(1000).optional(),
  })
  .superRefine((params, ctx) => {
    if (!params.event && !params.entries && !params.devices) {
      ctx.addIssue({ code: 'custom', path: [], message: 'name what to replay: event, entries or devices (at least one)' });
    }
    // Only between two times the field checks took: zod runs this after they failed too, and a `from` refused as
    // no ISO time (`+275760-09-13T00:00:00Z`, which Date.parse reads) would be blamed on a `to` nobody gave.
    if (isoDatetime.safeParse(params.from).success && isoDatetime.safeParse(params.to).success && Date.parse(params.from) >= Date.parse(params.to)) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: '`to` must be later than `from`' });
    }
  });

export type ReplayParams = z.infer<typeof replayParamsSchema>;
