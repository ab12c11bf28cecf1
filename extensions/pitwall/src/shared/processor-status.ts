import type { Knex } from 'knex';

/**
 * What `GET /pitwall/status` answers: the processors' own reports (rows of `pitwall_processor_status`, written every
 * 5 s by each instance, see src/processor/status-writer.ts) and one summary for the race office's health panel.
 */

/** A processor whose row has not moved for this long is silent (six missed writes). */
export const SILENT_AFTER_SECONDS = 30;
/**
 * A fact batch waiting this long for Directus means results are late on the boards (Directus down, or refusing the
 * batches with a 500 that the courier retries): the summary says so, while the processors themselves stay healthy
 * (their /healthz must not restart them for Directus's sake).
 */
export const RESULTS_DELAYED_SECONDS = 30;
/**
 * A replay or backfill queued this long while no run of its kind is being worked on means no job runner is there (a
 * runner polls every second): the race office's replay button would say "queued" for ever.
 */
export const RUN_WAITING_SECONDS = 60;
/** A running run whose heartbeat is older has lost its runner (the runner beats every second; it takes runs back after 30 s). */
export const RUN_HEARTBEAT_SECONDS = 30;
/** Rows of instances silent for longer are forgotten (a renamed or removed instance), unless none is newer. */
const FORGET_AFTER_SECONDS = 3_600;

export interface StatusRow {
  instance: string;
  started_at: string;
  updated_at: string;
  /** Seconds since updated_at, by the database's clock. */
  age_seconds: number;
  healthy: boolean;
  reasons: string[];
  positions_stored_total: number;
  positions_per_minute: number | null;
  lag: number | null;
  pending: number | null;
  oldest_pending_seconds: number | null;
  outbox_pending: number | null;
  outbox_parked: number | null;
  dead_letters_total: number;
  dead_letters_per_minute: number | null;
}

export interface RunsWaiting {
  kind: 'replay' | 'backfill';
  queued: number;
  /** How long the oldest queued run has waited (0: none queued). */
  oldest_seconds: number;
  /** Runs left running by a job runner that stopped beating (killed mid-run): taken back only by a runner. */
  stalled: number;
  /** Since when the oldest of them has had no heartbeat (0: none). */
  stalled_seconds: number;
}

export interface InstanceStatus extends StatusRow {
  silent: boolean;
}

export interface StatusSummary {
  /** `none`: no processor ever reported; `silent`: none reports now; `unhealthy`: one reports a reason, or went silent. */
  state: 'ok' | 'unhealthy' | 'silent' | 'none';
  reasons: string[];
  positions_per_minute: number | null;
  lag: number | null;
  pending: number | null;
  oldest_pending_seconds: number | null;
  outbox_pending: number | null;
  outbox_parked: number | null;
  /** How long the oldest fact batch has waited for Directus (0: none waits; null: unknown). */
  outbox_oldest_seconds: number | null;
  /** Why its last delivery failed, as the courier recorded it (null: not tried yet, or none waits). */
  outbox_last_error: string | null;
  dead_letters_total: number | null;
  dead_letters_per_minute: number | null;
  /** Replay or backfill runs queued over RUN_WAITING_SECONDS with no run of their kind worked on: no job runner. */
  runs_waiting: RunsWaiting[];
  /** The last time a processor that is now silent reported; null while one reports. */
  silent_since: string | null;
}

export interface ProcessorStatusView {
  checked_at: string;
  silent_after_seconds: number;
  summary: StatusSummary;
  processors: InstanceStatus[];
}

const present = (values: (number | null)[]) => values.filter((v): v is number => v !== null);
const sum = (values: (number | null)[]) => (present(values).length > 0 ? present(values).reduce((a, b) => a + b, 0) : null);
const max = (values: (number | null)[]) => (present(values).length > 0 ? Math.max(...present(values)) : null);

/**
 * One picture of the processors: rates and dead letters add up over the instances that report; lag, pending and the
 * outbox are the consumer group's and the database's, the same for every instance, so the largest report counts.
 */
export function summarizeStatus(
  rows: readonly StatusRow[],
  checkedAt: string,
  silentAfterSeconds = SILENT_AFTER_SECONDS,
  outbox: OutboxWait | null = null,
  runsWaiting: RunsWaiting[] = [],
): ProcessorStatusView {
  const newestFirst = [...rows].sort((a, b) => a.age_seconds - b.age_seconds);
  const kept = newestFirst.filter((r, i) => i === 0 || r.age_seconds <= FORGET_AFTER_SECONDS);
  const processors = kept.map((r) => ({ ...r, silent: r.age_seconds > silentAfterSeconds }));
  const live = processors.filter((p) => !p.silent);
  const delayed = live.length > 0 && (outbox?.oldestSeconds ?? 0) > RESULTS_DELAYED_SECONDS;
  const reasons = [
    ...new Set([
      ...live.flatMap((p) => p.reasons),
      ...(delayed ? ['results-delayed'] : []),
      ...(runsWaiting.length > 0 ? ['runs-waiting'] : []),
      ...(processors.some((p) => p.silent) ? ['processor-silent'] : []),
    ]),
  ];
  const state: StatusSummary['state'] =
    processors.length === 0 ? 'none' : live.length === 0 ? 'silent' : reasons.length > 0 || live.some((p) => !p.healthy) ? 'unhealthy' : 'ok';
  return {
    checked_at: checkedAt,
    silent_after_seconds: silentAfterSeconds,
    summary: {
      state,
      reasons,
      positions_per_minute: sum(live.map((p) => p.positions_per_minute)),
      lag: max(live.map((p) => p.lag)),
      pending: max(live.map((p) => p.pending)),
      oldest_pending_seconds: max(live.map((p) => p.oldest_pending_seconds)),
      outbox_pending: outbox?.pending ?? max(live.map((p) => p.outbox_pending)),
      outbox_parked: max(live.map((p) => p.outbox_parked)),
      outbox_oldest_seconds: outbox?.oldestSeconds ?? null,
      outbox_last_error: outbox?.lastError ?? null,
      dead_letters_total: sum(live.map((p) => p.dead_letters_total)),
      dead_letters_per_minute: sum(live.map((p) => p.dead_letters_per_minute)),
      runs_waiting: runsWaiting,
      silent_since: state === 'silent' ? (processors[0]?.updated_at ?? null) : null,
    },
    processors,
  };
}

/** The outbox's oldest waiting batch, read where the summary is made (the processors report only counts). */
export interface OutboxWait {
  /** Batches waiting (not parked), as the table has them now: fresher than the processors' last reports. */
  pending: number;
  oldestSeconds: number;
  lastError: string | null;
}

const num = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
const iso = (value: unknown): string => new Date(value as string).toISOString();

/** Reads every instance's row with its age by the database's clock, and summarizes them. */
export async function readProcessorStatus(database: Knex): Promise<ProcessorStatusView> {
  const { rows: [clock] } = await database.raw('SELECT now() AS now, to_regclass(?) IS NOT NULL AS present, to_regclass(?) IS NOT NULL AS outbox', [
    'pitwall_processor_status',
    'pitwall_outbox',
  ]);
  if (!clock.present) return summarizeStatus([], iso(clock.now));
  const outbox = clock.outbox ? await oldestWaiting(database) : null;
  const runs = await runsWaiting(database);
  const { rows } = await database.raw(
    `SELECT *, extract(epoch FROM (now() - updated_at))::float8 AS age_seconds FROM pitwall_processor_status ORDER BY updated_at DESC LIMIT 100`,
  );
  return summarizeStatus(
    (rows as Record<string, unknown>[]).map((r) => ({
      instance: String(r['instance']),
      started_at: iso(r['started_at']),
      updated_at: iso(r['updated_at']),
      age_seconds: Math.max(0, Number(r['age_seconds'])),
      healthy: r['healthy'] === true,
      reasons: Array.isArray(r['reasons']) ? (r['reasons'] as unknown[]).map(String) : [],
      positions_stored_total: Number(r['positions_stored_total']),
      positions_per_minute: num(r['positions_per_minute']),
      lag: num(r['lag']),
      pending: num(r['pending']),
      oldest_pending_seconds: num(r['oldest_pending_seconds']),
      outbox_pending: num(r['outbox_pending']),
      outbox_parked: num(r['outbox_parked']),
      dead_letters_total: Number(r['dead_letters_total']),
      dead_letters_per_minute: num(r['dead_letters_per_minute']),
    })),
    iso(clock.now),
    SILENT_AFTER_SECONDS,
    outbox,
    runs,
  );
}

/**
 * Per kind of run, while none of that kind is being worked on: queued ones waiting past RUN_WAITING_SECONDS, and
 * running ones whose runner stopped beating (a runner killed mid-run: the run read "Running 0%" for ever).
 */
async function runsWaiting(database: Knex): Promise<RunsWaiting[]> {
  const beating = `heartbeat_at > now() - interval '${RUN_HEARTBEAT_SECONDS} seconds'`;
  const part = (kind: string) => `
    SELECT '${kind}' AS kind, count(*) FILTER (WHERE status = 'queued') AS queued,
      extract(epoch FROM (now() - min(date_created) FILTER (WHERE status = 'queued')))::float8 AS oldest,
      count(*) FILTER (WHERE status = 'running' AND ${beating}) AS working,
      count(*) FILTER (WHERE status = 'running' AND NOT coalesce(${beating}, false)) AS stalled,
      extract(epoch FROM (now() - min(coalesce(heartbeat_at, date_created)) FILTER (WHERE status = 'running' AND NOT coalesce(${beating}, false))))::float8 AS stalled_for
    FROM ${kind}_runs`;
  const { rows } = await database.raw(`${part('replay')} UNION ALL ${part('backfill')}`);
  return (rows as { kind: RunsWaiting['kind']; queued: string; oldest: number | null; working: string; stalled: string; stalled_for: number | null }[])
    .filter((r) => Number(r.working) === 0 && ((r.oldest ?? 0) > RUN_WAITING_SECONDS || Number(r.stalled) > 0))
    .map((r) => ({ kind: r.kind, queued: Number(r.queued), oldest_seconds: Number(r.oldest ?? 0), stalled: Number(r.stalled), stalled_seconds: Number(r.stalled_for ?? 0) }));
}

/** The oldest fact batch that waits for Directus (not parked), with its age and why it last failed. */
async function oldestWaiting(database: Knex): Promise<OutboxWait> {
  const { rows } = await database.raw(
    `SELECT extract(epoch FROM (now() - created_at))::float8 AS age, last_error, (SELECT count(*) FROM pitwall_outbox WHERE failed_at IS NULL) AS pending
     FROM pitwall_outbox WHERE failed_at IS NULL ORDER BY id LIMIT 1`,
  );
  const [row] = rows as { age: number; last_error: string | null; pending: string }[];
  return { pending: Number(row?.pending ?? 0), oldestSeconds: row ? Math.max(0, Number(row.age)) : 0, lastError: row?.last_error ?? null };
}
