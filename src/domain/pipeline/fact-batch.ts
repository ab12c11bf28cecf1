import { z } from 'zod';
import { recordId } from '../uuid-text.ts';

/**
 * The body of `POST /pitwall/facts`: one batch of fact changes from the processor (or replay), checked with zod at
 * the HTTP edge. Times are epoch milliseconds; ids of entries, stages and geofences are Directus uuids.
 */
const ms = z.number().int().nonnegative();
const id = recordId();

const crossing = z.strictObject({
  type: z.literal('crossing'),
  key: z.string().min(1),
  entryId: id,
  stageId: id,
  gateId: id,
  deviceId: z.string().min(1),
  kind: z.enum(['start', 'split', 'finish']),
  crossedAt: ms,
  speedKmh: z.number(),
  segmentMs: z.number().int().nonnegative().optional(),
});

const stageResult = z.strictObject({
  type: z.literal('stage_result'),
  key: z.string().min(1),
  entryId: id,
  stageId: id,
  status: z.enum(['running', 'finished', 'dnf']),
  startedAt: ms.nullable(),
  finishedAt: ms.nullable(),
  elapsedMs: z.number().int().nullable(),
  penaltyMs: z.number().int(),
  totalMs: z.number().int().nullable(),
});

const penalty = z.strictObject({
  type: z.literal('penalty'),
  key: z.string().min(1),
  entryId: id,
  stageId: id,
  kind: z.enum(['missed_waypoint', 'speeding']),
  amountMs: z.number().int(),
  details: z.record(z.string(), z.unknown()),
});

const anomaly = z.strictObject({
  type: z.literal('anomaly'),
  key: z.string().min(1),
  kind: z.enum(['missed_waypoint', 'speeding', 'signal_loss', 'position_jump', 'late_data']),
  severity: z.enum(['info', 'warning', 'critical']),
  entryId: id.nullable(),
  stageId: id.nullable(),
  deviceId: z.string().min(1),
  startedAt: ms,
  endedAt: ms.nullable(),
  details: z.record(z.string(), z.unknown()),
});

export const factSchema = z.discriminatedUnion('type', [crossing, stageResult, penalty, anomaly]);

/**
 * Whether Postgres takes `text` as a `pg_snapshot`: `xmin:xmax:xip,…` with 1 <= xmin <= xmax and each in-progress
 * id from xmin up to xmax, in ascending order. Anything else it answers with an error, which must be a 400 here.
 */
export function isPgSnapshot(text: string): boolean {
  const match = /^(\d{1,20}):(\d{1,20}):(\d{1,20}(?:,\d{1,20})*)?$/.exec(text);
  if (!match) return false;
  const xmin = BigInt(match[1]!);
  const xmax = BigInt(match[2]!);
  if (xmin < 1n || xmin > xmax) return false;
  const running = match[3] ? match[3].split(',').map(BigInt) : [];
  return running.every((xid, i) => xid >= xmin && xid < xmax && (i === 0 || xid >= running[i - 1]!));
}

export const factBatchSchema = z.strictObject({
  /** Unique per batch (e.g. the outbox row); logged with the outcome. */
  batch: z.string().min(1).max(200),
  source: z.enum(['live', 'replay']),
  upserts: z.array(factSchema).max(10_000),
  /** Keys of facts that no longer hold (a late fix moved a crossing, for example). */
  retractions: z.array(z.string().min(1)).max(10_000),
  /**
   * Stored rows to delete by id (replay: rows in the replayed range that the replay no longer produces; their keys
   * are not known, only their ids).
   */
  removals: z
    .array(z.strictObject({ collection: z.enum(['entry_crossings', 'stage_results', 'entry_penalties', 'anomalies']), id }))
    .max(10_000)
    .optional(),
  /**
   * Ordering number of these changes (the live processor: the newest outbox row they merge). Per fact, the endpoint
   * skips a change numbered lower than one it already applied, so a retry never brings an older value back.
   * Without it, changes are applied as they come (replay).
   */
  sequence: z.number().int().positive().optional(),
  /**
   * Replay: the Postgres snapshot (`pg_current_snapshot()`) taken before the replay read the positions and the stored
   * facts. A fact written after it (the live processor timing the same stage meanwhile) is left as it is and counted
   * `superseded`, not overwritten or removed with what the replay computed from older data.
   */
  snapshot: z.string().refine(isPgSnapshot, 'expected a Postgres snapshot, xmin:xmax:xip_list, as pg_current_snapshot() gives it').optional(),
});

export type FactBatch = z.infer<typeof factBatchSchema>;
