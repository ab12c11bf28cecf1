import { raceEvent } from './race-events-build';
import { publishPendingSafely, stagePendingEvents } from './race-events-publish';
import type { RecomputeContext } from './race-events-recompute';
import { isTerminal } from '../../../../src/jobs/job';
import { runCollection, type RunKind } from './runs';

/**
 * `replay.completed` / `backfill.completed` for runs that ended (CONTRACTS section 4). Previews emit nothing. The
 * event's id is derived from the run and its outcome, so recording the end twice still emits it once.
 */
export async function emitRunsCompleted(kind: RunKind, ids: string[], context: RecomputeContext): Promise<number> {
  if (ids.length === 0) return 0;
  // FOR SHARE waits for the transaction that ended the run: Directus runs this action as soon as its update is made,
  // and a cancel updates inside a transaction of its own (cancelRun), which may not have committed yet. Read without
  // the lock, the run still looked unfinished and its event was never emitted.
  const rows = await context.database(runCollection(kind)).whereIn('id', ids).forShare().select('id', 'status', 'params', 'result', 'error', 'finished_at');
  const events = rows
    .filter((row: Record<string, any>) => isTerminal(row.status))
    .map((row: Record<string, any>) => ({ ...row, params: typeof row.params === 'string' ? JSON.parse(row.params) : row.params ?? {}, result: typeof row.result === 'string' ? JSON.parse(row.result) : row.result }))
    .filter((row: Record<string, any>) => kind === 'backfill' || row.params?.mode === 'apply')
    .map((row: Record<string, any>) =>
      raceEvent({
        type: `${kind}.completed`,
        subject: `${kind}:${row.id}`,
        occurred_at: new Date(row.finished_at ?? Date.now()).toISOString(),
        source: kind,
        event: typeof row.params?.event === 'string' ? row.params.event : null,
        entry: null,
        device_id: null,
        payload: { run: String(row.id), status: row.status, summary: summaryOf(row) },
      }),
    );
  if (events.length === 0) return 0;
  const staged = await context.database.transaction((trx: any) => stagePendingEvents(trx, events));
  return publishPendingSafely({ ...context, accountability: null }, staged);
}

/** The run's result without the bulky parts (tracks, diff rows) that a notification does not need. */
function summaryOf(row: Record<string, any>): Record<string, unknown> {
  if (row.status !== 'succeeded') return { error: row.error ?? null };
  const { tracks: _tracks, crossings: _crossings, diff, ...rest } = (row.result ?? {}) as Record<string, any>;
  return diff ? { ...rest, diff: { counts: diff.counts } } : rest;
}
