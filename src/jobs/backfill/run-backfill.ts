import type { Knex } from 'knex';
import type { AttributesJson } from '../../domain/io/attributes-json.ts';
import { z } from 'zod';
import { copyField } from '../../store/copy-rows.ts';
import { upsertDecodedAttributesText } from '../../store/decoded-attributes.ts';
import { countPositions, readRawAttributesPage, type PageCursor, type RawAttributesPage, type RawAttributesRow } from '../../store/backfill-source.ts';
import { throwIfCancelled, type JobContext } from '../job.ts';
import { backfillParamsSchema, type BackfillParams } from './backfill-params.ts';
import { backfillTargets, type BackfillTargets } from './backfill-targets.ts';

/** The run's `result`. Counts cover the whole run, earlier attempts included; times cover this attempt. */
export interface BackfillSummary {
  /** Positions read and decoded. */
  rows: number;
  /** decoded_attributes rows inserted or replaced. */
  written: number;
  /** Rows left as they were because a newer mapping version had already decoded them. */
  skipped_newer: number;
  devices: number;
  /** The mapping label written, by device_models id. */
  mapping_versions: Record<string, string>;
  from: string;
  to: string;
  /** Whether this attempt went on from an earlier attempt's checkpoint. */
  resumed: boolean;
  duration_ms: number;
  rows_per_s: number;
}

/** Stored as the run's checkpoint after every batch: the last (device_id, ts) done, and the counts so far. */
const checkpointSchema = z.object({
  device_id: z.string(),
  ts: z.string(),
  rows: z.number().int().min(0),
  written: z.number().int().min(0),
  skipped_newer: z.number().int().min(0),
  mapping_versions: z.record(z.string(), z.string()),
});
export type BackfillCheckpoint = z.infer<typeof checkpointSchema>;

export interface BackfillOptions {
  /** Positions per batch: one read, one COPY, one upsert, one short transaction. */
  batchSize?: number;
  /** Batches being written at the same time (each in its own transaction and connection). */
  writers?: number;
}

export const backfillDefaults: Required<BackfillOptions> = { batchSize: 10_000, writers: 2 };

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
/** A promise that never rejects, so one waiting in line cannot become an unhandled rejection. */
const settle = <T>(promise: Promise<T>): Promise<Settled<T>> => promise.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));
const unwrap = <T>(settled: Settled<T>): T => {
  if (!settled.ok) throw settled.error;
  return settled.value;
};

/**
 * Recomputes decoded_attributes of the chosen devices over [from, to) with their models' current IO mapping.
 * Reads positions (never writes them) in keyset pages by (device_id, ts), skipping faulty rows; the next page is
 * read while a batch is written; each batch is one COPY and one upsert in its own short transaction, and a row
 * already decoded with a newer mapping is left alone. Reports progress after every batch with a checkpoint, goes
 * on from `ctx.checkpoint` when it is set (from the start if the mapping changed since), and stops with
 * JobCancelledError soon after `ctx.signal` aborts. Running it twice gives the same rows.
 */
export async function runBackfill(params: BackfillParams, ctx: JobContext, options: BackfillOptions = {}): Promise<BackfillSummary> {
  const { batchSize, writers } = { ...backfillDefaults, ...options };
  const started = performance.now();
  const checked = backfillParamsSchema.parse(params);
  const { from, to } = checked;
  const range = { from, to };
  throwIfCancelled(ctx.signal);
  const targets = await backfillTargets(ctx.db, checked);
  const versions = Object.fromEntries(targets.models.map((m) => [m.id, m.label]));
  const total = await countPositions(ctx.db, targets.devices, range);
  const resume = resumePoint(ctx, versions);
  const done = { rows: resume?.rows ?? 0, written: resume?.written ?? 0, skipped_newer: resume?.skipped_newer ?? 0 };
  const doneBefore = done.rows;
  ctx.log.info({ devices: targets.devices.length, total, mapping_versions: versions, resumed: resume !== null }, 'backfill starting');
  await ctx.progress({ processed: done.rows, total, checkpoint: resume });

  const read = (cursor: PageCursor) => settle(readRawAttributesPage(ctx.db, targets.devices, range, cursor, batchSize));
  let reading: Promise<Settled<RawAttributesPage>> | null = read(startCursor(targets.devices, resume));
  const writing: { rows: number; last: RawAttributesRow; result: Promise<Settled<number>> }[] = [];
  try {
    while (reading !== null || writing.length > 0) {
      if (reading !== null && writing.length < writers && !ctx.signal.aborted) {
        const page: RawAttributesPage = unwrap(await reading);
        reading = page.next ? read(page.next) : null;
        if (page.rows.length > 0) writing.push({ rows: page.rows.length, last: page.rows.at(-1)!, result: settle(write(ctx.db, copyText(page.rows, targets))) });
        continue;
      }
      // The oldest batch first: a checkpoint never passes a batch that is not committed.
      const batch = writing.shift();
      if (batch === undefined) break; // cancelled with nothing in flight
      const written = unwrap(await batch.result);
      done.rows += batch.rows;
      done.written += written;
      done.skipped_newer += batch.rows - written;
      const checkpoint: BackfillCheckpoint = { device_id: batch.last[0], ts: isoTime(batch.last[1]), ...done, mapping_versions: versions };
      // Positions stored in the range while the run goes (a window reaching the present) are decoded too: the total
      // counted at the start then grows with them, rather than a run ending with more processed than its total.
      await ctx.progress({ processed: done.rows, total: Math.max(total, done.rows), checkpoint });
    }
    // Pages left unread: the loop stopped because the run was cancelled. (All read and written: it is done.)
    if (reading !== null) throwIfCancelled(ctx.signal);
  } finally {
    // Nothing is left running on a connection when this returns or throws.
    await Promise.all([reading, ...writing.map((w) => w.result)]);
  }

  const seconds = (performance.now() - started) / 1000;
  const summary: BackfillSummary = {
    ...done,
    devices: targets.devices.length,
    mapping_versions: versions,
    from,
    to,
    resumed: resume !== null,
    duration_ms: Math.round(seconds * 1000),
    rows_per_s: Math.round((done.rows - doneBefore) / Math.max(seconds, 1e-3)),
  };
  ctx.log.info(summary, 'backfill done');
  return summary;
}

/** The earlier attempt's checkpoint, when there is one this attempt can go on from. */
function resumePoint(ctx: JobContext, versions: Record<string, string>): BackfillCheckpoint | null {
  if (ctx.checkpoint === null || ctx.checkpoint === undefined) return null;
  const parsed = checkpointSchema.safeParse(ctx.checkpoint);
  if (!parsed.success) {
    ctx.log.warn({ checkpoint: ctx.checkpoint }, 'backfill checkpoint not understood: starting from the beginning');
    return null;
  }
  const same = JSON.stringify(Object.entries(parsed.data.mapping_versions).sort()) === JSON.stringify(Object.entries(versions).sort());
  if (!same) {
    ctx.log.info({ was: parsed.data.mapping_versions, now: versions }, 'IO mapping changed since the checkpoint: starting from the beginning');
    return null;
  }
  return parsed.data;
}

/** The page after a checkpoint: the rest of its device, or the next device when that one is gone from the list. */
function startCursor(devices: readonly string[], resume: BackfillCheckpoint | null): PageCursor {
  if (!resume) return { device: 0, after: null };
  const index = devices.findIndex((imei) => imei >= resume.device_id);
  if (index === -1) return { device: devices.length, after: null };
  return { device: index, after: devices[index] === resume.device_id ? resume.ts : null };
}

/**
 * One batch as COPY text for decoded_attributes, decoded with each device's model's decoder as COPY asks for it,
 * so that decoding a batch takes turns with the other batches' I/O instead of holding the event loop.
 */
function* copyText(rows: readonly RawAttributesRow[], targets: BackfillTargets): Generator<string> {
  let chunk = '';
  let device = '';
  let prefix = '';
  let suffix = '';
  let decode: AttributesJson | null = null;
  for (const [deviceId, ts, attributes] of rows) {
    if (deviceId !== device) {
      const decoder = targets.decoderOf.get(deviceId)!;
      [device, prefix, suffix, decode] = [deviceId, `${copyField(deviceId)}\t`, `\t${copyField(decoder.label)}\n`, decoder.decode];
    }
    const json = decode!.fromText(attributes);
    // JSON.stringify escapes control characters itself: a backslash is the one character COPY needs escaped.
    chunk += `${prefix}${ts}\t${json.includes('\\') ? copyField(json) : json}${suffix}`;
    if (chunk.length >= 65_536) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

/**
 * One batch in one short transaction. Commit without waiting for the WAL flush: a crash can lose only the last
 * batches, never a checkpoint that covers them (the checkpoint is written after, and the WAL is one sequence), and a
 * lost batch is simply done again on restart.
 */
function write(db: Knex, text: Iterable<string>): Promise<number> {
  return db.transaction(async (trx) => {
    await trx.raw('SET LOCAL synchronous_commit = off');
    return upsertDecodedAttributesText(trx, text);
  });
}

/** Postgres's ISO timestamptz text ("2026-03-01 08:00:00.123+00") as ISO-8601 ("2026-03-01T08:00:00.123+00:00"). */
function isoTime(text: string): string {
  const match = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d)(?::?(\d\d))?(?::?(\d\d))?$/.exec(text);
  if (!match || match[5]) return text; // another DateStyle, or a seconds offset: Postgres reads its own text back
  return `${match[1]}T${match[2]}${match[3]}:${match[4] ?? '00'}`;
}
