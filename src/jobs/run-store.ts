import type { Knex } from 'knex';
import { runTable, type RunKind } from './job.ts';

/** A claimed run, as the runner needs it. */
export interface ClaimedRun {
  kind: RunKind;
  id: string;
  params: unknown;
  checkpoint: unknown;
  attempts: number;
}

const json = (value: unknown) => (typeof value === 'string' ? JSON.parse(value) : value ?? null);

/**
 * Takes the oldest queued run of a kind (or the given one) and marks it running, in one statement; SKIP LOCKED lets
 * several runners (or a CLI beside a runner) claim different runs and never the same one.
 */
export async function claimRun(db: Knex, kind: RunKind, id?: string): Promise<ClaimedRun | null> {
  const table = runTable(kind);
  const { rows } = await db.raw(
    `UPDATE ?? SET status = 'running', started_at = coalesce(started_at, now()), heartbeat_at = now(),
            attempts = coalesce(attempts, 0) + 1, error = NULL
      WHERE id = (SELECT id FROM ?? WHERE status = 'queued' ${id ? 'AND id = ?' : ''}
                   ORDER BY date_created, id LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING id, params, checkpoint, attempts`,
    id ? [table, table, id] : [table, table],
  );
  const row = rows[0];
  return row ? { kind, id: String(row.id), params: json(row.params), checkpoint: json(row.checkpoint), attempts: Number(row.attempts) } : null;
}

/**
 * Writes progress and the heartbeat. Returns false when the run is no longer running (cancelled, or taken back by
 * recovery), which tells the runner to stop working on it.
 */
export async function recordProgress(
  db: Knex, kind: RunKind, id: string, progress: { processed: number; total: number | null; checkpoint?: unknown },
): Promise<boolean> {
  const updated = await db(runTable(kind))
    .where({ id, status: 'running' })
    .update({
      ...progressColumns(progress),
      heartbeat_at: db.fn.now(),
      ...(progress.checkpoint === undefined ? {} : { checkpoint: JSON.stringify(progress.checkpoint) }),
    });
  return updated > 0;
}

/**
 * The progress a cancelled run had made when it stopped: the batches in flight at the cancel still commit, and the
 * row should count them (it said 20,000 of about 40,000 a backfill wrote).
 */
export async function recordCancelledProgress(db: Knex, kind: RunKind, id: string, progress: { processed: number; total: number | null }): Promise<void> {
  await db(runTable(kind)).where({ id, status: 'cancelled' }).update(progressColumns(progress));
}

function progressColumns(progress: { processed: number; total: number | null }) {
  const fraction = progress.total ? Math.min(1, progress.processed / progress.total) : 0;
  return { processed: progress.processed, total: progress.total, progress: Math.round(fraction * 1000) / 1000 };
}

/**
 * The run has begun its last phase, which must not be stopped half-way (a replay's apply: a stage half rewritten is
 * worse than a run that finishes). Recorded in its `checkpoint` with the attempt, only while it still runs: the
 * cancel route reads it under the same row lock and refuses. False when the run no longer runs (cancelled before).
 */
export async function markFinal(db: Knex, kind: RunKind, id: string, attempt: number): Promise<boolean> {
  const updated = await db(runTable(kind)).where({ id, status: 'running' }).update({ checkpoint: JSON.stringify({ final: attempt }), heartbeat_at: db.fn.now() });
  return updated > 0;
}

/** Whether a run's row says its attempt `attempts` is in its last phase (see markFinal). */
export const inFinalPhase = (row: { status: unknown; checkpoint: unknown; attempts: unknown }): boolean => {
  const checkpoint = typeof row.checkpoint === 'string' ? (JSON.parse(row.checkpoint) as unknown) : row.checkpoint;
  return row.status === 'running' && (checkpoint as { final?: unknown } | null)?.final === Number(row.attempts);
};

export interface InterruptedRun {
  id: string;
  attempts: number;
}

/**
 * Runs left `running` by a runner that died (no heartbeat for `staleMs`) go back to the queue, to be resumed from
 * their checkpoint; those interrupted `maxAttempts` times are returned, for the caller to fail with the reason.
 */
export async function requeueInterrupted(db: Knex, kind: RunKind, staleMs: number, maxAttempts: number, held: readonly string[] = []): Promise<InterruptedRun[]> {
  const stale = db.raw(`now() - (? * interval '1 millisecond')`, [staleMs]);
  const table = runTable(kind);
  // `held`: the caller's own runs, between their heartbeats' end and their end recorded, are not interrupted.
  const interrupted = () => db(table).where('status', 'running').andWhere('heartbeat_at', '<', stale).whereNotIn('id', held);
  await interrupted().andWhere('attempts', '<', maxAttempts).update({ status: 'queued' });
  const exhausted = await interrupted().select('id', 'attempts');
  return exhausted.map((r) => ({ id: String(r.id), attempts: Number(r.attempts) }));
}

/**
 * Stores a run's result in its row while it is still running, before its end is recorded through Directus: a result
 * (a replay's diff and tracks) can be larger than the request body Directus accepts (1 MB by default).
 */
export async function recordResult(db: Knex, kind: RunKind, id: string, result: Record<string, unknown>): Promise<void> {
  await db(runTable(kind)).where({ id, status: 'running' }).update({ result: JSON.stringify(result) });
}

export async function runStatus(db: Knex, kind: RunKind, id: string): Promise<string | null> {
  const row = await db(runTable(kind)).where({ id }).first('status');
  return row ? String(row.status) : null;
}
