import { z } from 'zod';
import { recordId } from '../uuid-text.ts';

/**
 * The race event catalogue (CONTRACTS section 4), version 1. Each domain event becomes one `race_events` item whose
 * `payload` matches the type's schema; Flows and integrators rely on these names. Add fields freely; a rename or
 * removal is a new version.
 */
const uuid = recordId();
const isoTime = z.iso.datetime({ offset: true }).describe('ISO-8601 time with milliseconds');
const raceNumber = z.number().int().nullable().describe('the entry’s race number, for messages that humans read');

export const catalogue = {
  'timing.crossing.recorded': {
    version: 1,
    description: 'An entry crossed a start, split or finish line (time interpolated between the two fixes around it).',
    payload: z.strictObject({
      crossing: uuid.describe('entry_crossings id'),
      entry: uuid,
      race_number: raceNumber,
      stage: uuid,
      geofence: uuid,
      kind: z.enum(['start', 'split', 'finish']),
      crossed_at: isoTime,
      device_id: z.string().describe('tracker IMEI'),
      speed_kmh: z.number().nullable(),
    }),
  },
  'stage.result.computed': {
    version: 1,
    description: 'An entry’s result in a stage was computed or changed (start, finish, penalty, rank, DNF).',
    payload: z.strictObject({
      entry: uuid,
      race_number: raceNumber,
      stage: uuid,
      status: z.enum(['running', 'finished', 'dnf']),
      started_at: isoTime.nullable(),
      finished_at: isoTime.nullable(),
      elapsed_ms: z.number().int().nullable(),
      penalty_ms: z.number().int(),
      total_ms: z.number().int().nullable(),
      rank: z.number().int().nullable(),
    }),
  },
  'anomaly.detected': {
    version: 1,
    description: 'Something race control should look at: a missed waypoint, speeding, a signal loss, a position jump or late data.',
    payload: z.strictObject({
      anomaly: uuid.describe('anomalies id'),
      kind: z.enum(['missed_waypoint', 'speeding', 'signal_loss', 'position_jump', 'late_data']),
      severity: z.enum(['info', 'warning', 'critical']),
      entry: uuid.nullable(),
      race_number: raceNumber,
      stage: uuid.nullable(),
      device_id: z.string(),
      started_at: isoTime,
      details: z.record(z.string(), z.unknown()),
    }),
  },
  'io_mapping.changed': {
    version: 1,
    description: 'IO mappings of a tracker model were created, changed or deleted (one event per model for all the rows one request creates, changes or deletes, an import included, once it has committed): decoded attributes may need a backfill.',
    payload: z.strictObject({
      model: uuid.describe('device_models id'),
      io_ids: z.array(z.number().int()).describe('the IO ids whose mapping changed'),
    }),
  },
  'replay.completed': {
    version: 1,
    description: 'A replay run ended (apply mode only; previews emit nothing).',
    payload: z.strictObject({
      run: uuid.describe('replay_runs id'),
      status: z.enum(['succeeded', 'failed', 'cancelled']),
      summary: z.record(z.string(), z.unknown()),
    }),
  },
  'backfill.completed': {
    version: 1,
    description: 'A backfill of decoded attributes ended.',
    payload: z.strictObject({
      run: uuid.describe('backfill_runs id'),
      status: z.enum(['succeeded', 'failed', 'cancelled']),
      summary: z.record(z.string(), z.unknown()),
    }),
  },
} as const;

export type RaceEventType = keyof typeof catalogue;
export type RaceEventPayload<T extends RaceEventType> = z.infer<(typeof catalogue)[T]['payload']>;

/** The `race_events` item around a payload. */
export const raceEventEnvelope = z.strictObject({
  id: uuid.describe('derived from the event’s idempotency key: the same event is never stored or delivered twice'),
  type: z.enum(Object.keys(catalogue) as [RaceEventType, ...RaceEventType[]]),
  version: z.number().int().positive(),
  occurred_at: isoTime,
  source: z.enum(['live', 'replay', 'backfill', 'system']),
  event: uuid.nullable().describe('events id'),
  entry: uuid.nullable(),
  device_id: z.string().nullable(),
  payload: z.record(z.string(), z.unknown()),
  created_at: isoTime
    .nullable()
    .optional()
    .describe('when the event was written (null on events written before the field existed): read missed events by it, since an event can be written long after its occurred_at (a result ranked again, a tracker uploading buffered fixes)'),
});
