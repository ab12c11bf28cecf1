import { cutShort } from '../../../../src/domain/cut-short.ts';
import { formatTimeOfDay } from '../../../../src/domain/timing/format-time-of-day.ts';
import type { ProcessorStatusView } from '../shared/processor-status.ts';

/** How often the panel reads `GET /pitwall/status` (processors write every 5 s). */
export const POLL_MS = 5_000;

/** An entry waiting longer than this is worth a look even before the processor calls itself stalled. */
const SLOW_PENDING_SECONDS = 60;

export interface Figure {
  key: 'positions' | 'lag' | 'outbox' | 'dead-letters';
  label: string;
  value: string;
  detail: string;
  warn: boolean;
}

export interface HealthView {
  state: ProcessorStatusView['summary']['state'];
  /** One line above the figures: healthy, what is wrong, or since when the processor is silent. */
  headline: string;
  warn: boolean;
  figures: Figure[];
}

const reasonText: Record<string, string> = {
  'postgres-unreachable': 'Postgres unreachable',
  'redis-unreachable': 'Redis unreachable',
  'consumer-stalled': 'consumer stalled',
  'outbox-parked': 'results held back (parked outbox rows)',
  'processor-silent': 'a processor went silent',
  'shard-count-conflict': 'a processor started with another PROCESSOR_SHARDS waits',
};

const waited = (seconds: number) => (seconds < 90 ? `${Math.round(seconds)} s` : seconds < 5_400 ? `${Math.round(seconds / 60)} min` : `${(seconds / 3_600).toFixed(1)} h`);

/** "results delayed 3 min (last try: HTTP 500: …)": how long the boards have waited, and why the last try failed. */
function delayedText(summary: ProcessorStatusView['summary']): string {
  const why = summary.outbox_last_error ? `last try: ${cutShort(summary.outbox_last_error, 160)}` : 'Directus has not taken them yet';
  return `results delayed ${waited(summary.outbox_oldest_seconds ?? 0)} (${why})`;
}

/**
 * "2 replay runs queued for 3 min, 1 backfill run stopped 2 min ago with none worked on (is `pitwall jobs` running?)":
 * a stopped run is one left running by a job runner that no longer beats.
 */
function waitingText(summary: ProcessorStatusView['summary']): string {
  const runs = (n: number, kind: string) => `${n} ${kind} ${n === 1 ? 'run' : 'runs'}`;
  const parts = summary.runs_waiting.flatMap((r) => [
    ...(r.queued > 0 && r.oldest_seconds > 0 ? [`${runs(r.queued, r.kind)} queued for ${waited(r.oldest_seconds)}`] : []),
    ...(r.stalled > 0 ? [`${runs(r.stalled, r.kind)} stopped ${waited(r.stalled_seconds)} ago`] : []),
  ]);
  return `${parts.join(', ')} with none worked on (is \`pitwall jobs\` running?)`;
}

const count = (n: number | null) => (n === null ? '—' : Math.round(n).toLocaleString('en-US'));
const ago = (seconds: number) => `${waited(seconds)} ago`;

/**
 * What the health panel shows for one reading of `GET /pitwall/status`: four figures, each in the warning colour when
 * it is the reason the pipeline is unhealthy, and a headline. When no processor reports, the figures are the last
 * ones known only in the silent instance's row, so they show as unknown rather than as a healthy zero.
 */
export function healthView(status: ProcessorStatusView, timeZone = 'UTC'): HealthView {
  const { summary } = status;
  const reasons = new Set(summary.reasons);
  const stalled = reasons.has('consumer-stalled');
  const live = summary.state === 'ok' || summary.state === 'unhealthy';
  const waiting = (summary.lag ?? 0) + (summary.pending ?? 0);
  const figures: Figure[] = [
    {
      key: 'positions',
      label: 'Positions per minute',
      value: live ? count(summary.positions_per_minute) : '—',
      detail: live && summary.positions_per_minute === null ? 'measuring…' : 'stored, last minute',
      warn: !live || stalled || (summary.positions_per_minute === 0 && waiting > 0),
    },
    {
      key: 'lag',
      label: 'Processor lag',
      value: live ? count(waiting) : '—',
      detail: live ? `entries waiting${summary.oldest_pending_seconds ? `, oldest ${Math.round(summary.oldest_pending_seconds)} s` : ''}` : 'unknown',
      warn: !live || stalled || (summary.oldest_pending_seconds ?? 0) > SLOW_PENDING_SECONDS,
    },
    {
      key: 'outbox',
      label: 'Parked outbox rows',
      value: live ? count(summary.outbox_parked) : '—',
      detail: live
        ? `${count(summary.outbox_pending)} ${summary.outbox_pending === 1 ? 'fact batch' : 'fact batches'} waiting for Directus${summary.outbox_oldest_seconds ? `, oldest ${waited(summary.outbox_oldest_seconds)}` : ''}`
        : 'unknown',
      warn: !live || reasons.has('outbox-parked') || reasons.has('results-delayed') || (summary.outbox_parked ?? 0) > 0,
    },
    {
      key: 'dead-letters',
      label: 'Dead letters',
      value: live ? count(summary.dead_letters_total) : '—',
      detail: live ? `since start; ${count(summary.dead_letters_per_minute)} in the last minute` : 'unknown',
      warn: !live || (summary.dead_letters_per_minute ?? 0) > 0,
    },
  ];
  return { state: summary.state, headline: headline(status, timeZone), warn: summary.state !== 'ok', figures };
}

function headline(status: ProcessorStatusView, timeZone: string): string {
  const { summary, processors } = status;
  const now = Date.parse(status.checked_at);
  switch (summary.state) {
    case 'none':
      return 'No processor has reported yet: is `pitwall processor` running against this database?';
    case 'silent': {
      const since = summary.silent_since ?? processors[0]?.updated_at ?? null;
      return since
        ? `Processor silent since ${formatTimeOfDay(since, { timeZone, decimals: 0 })} (${ago((now - Date.parse(since)) / 1000)})`
        : 'Processor silent';
    }
    case 'unhealthy': {
      const silent = processors.filter((p) => p.silent).map((p) => `${p.instance} silent since ${formatTimeOfDay(p.updated_at, { timeZone, decimals: 0 })}`);
      const why = summary.reasons
        .filter((r) => r !== 'processor-silent')
        .map((r) => (r === 'results-delayed' ? delayedText(summary) : r === 'runs-waiting' ? waitingText(summary) : (reasonText[r] ?? r)));
      return `Unhealthy: ${[...why, ...silent].join('; ')}`;
    }
    case 'ok': {
      const newest = processors.find((p) => !p.silent);
      const instances = processors.filter((p) => !p.silent).length;
      return `Healthy · ${instances === 1 ? '1 processor' : `${instances} processors`}${newest ? ` · reported ${ago(newest.age_seconds)}` : ''}`;
    }
    default: {
      const never: never = summary.state;
      return String(never);
    }
  }
}
