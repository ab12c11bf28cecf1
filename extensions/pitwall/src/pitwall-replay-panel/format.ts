/** Formatting for the panel, without Vue or Directus imports, so that the unit tests can load it outside the bundle. */
import { formatRaceTime } from '../../../../src/domain/timing/format-race-time.ts';

type Row = Record<string, unknown>;
type FactCollection = 'entry_crossings' | 'stage_results' | 'entry_penalties' | 'anomalies';

const pad = (value: number, width = 2) => String(value).padStart(width, '0');
const msOf = (value: unknown): number | null => {
  if (value === null || value === undefined || value === '') return null;
  const ms = typeof value === 'number' ? value : Date.parse(String(value));
  return Number.isFinite(ms) ? ms : null;
};

/**
 * "+1.500 s", "−0.012 s", "±0.000 s"; from a minute on as race time, as the classification shows times: "+5:00.000";
 * "—" when there is no delta (an added or removed row).
 */
export function formatDelta(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const sign = ms > 0 ? '+' : ms < 0 ? '−' : '±';
  const abs = Math.abs(ms);
  return abs >= 60_000 ? `${sign}${formatRaceTime(abs, { decimals: 3 })}` : `${sign}${(abs / 1000).toFixed(3)} s`;
}

/** A duration as race time to the millisecond, as the classification shows it: "1:02:03.456", "12:03.456", "0:04.500". */
export function formatDuration(ms: number | null | undefined): string {
  return formatRaceTime(ms, { decimals: 3 });
}

/** Local time of day to the millisecond: "14:03:27.118". */
export function formatTime(value: unknown): string {
  const ms = msOf(value);
  if (ms === null) return '—';
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Local date and time to the second: "2026-11-28 14:03:27". */
export function formatDateTime(value: unknown): string {
  const ms = msOf(value);
  if (ms === null) return '—';
  const d = new Date(ms);
  // Four-digit years, as an ISO date has them: year 1 reads 0001-01-01, not 1-01-01.
  return `${String(d.getFullYear()).padStart(4, '0')}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** An ISO time as the value of an `<input type="datetime-local" step="1">` (local time). */
export function toLocalInput(value: string | null | undefined): string {
  const ms = msOf(value);
  if (ms === null) return '';
  return formatDateTime(ms).replace(' ', 'T');
}

/** The value of a datetime-local input back to ISO (UTC); null when empty or unreadable. */
export function fromLocalInput(value: string): string | null {
  if (!value) return null;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

export const formatCount = (value: unknown): string => (value === null || value === undefined ? '—' : Number(value).toLocaleString('en-US'));

/** What one side of a diff row says, in the words of its collection. */
export function describeRow(collection: FactCollection, row: Row | null): string {
  if (!row) return '—';
  const num = (field: string) => (row[field] === null || row[field] === undefined ? null : Number(row[field]));
  switch (collection) {
    case 'entry_crossings':
      return formatTime(row['crossed_at']);
    case 'stage_results': {
      const rank = num('rank');
      const total = row['status'] === 'dnf' ? 'DNF' : formatDuration(num('total_ms'));
      const penalty = num('penalty_ms') ? ` (pen. ${formatDuration(num('penalty_ms'))})` : '';
      return `${total}${penalty}${rank !== null ? ` · P${rank}` : ''}`;
    }
    case 'entry_penalties':
      return formatDuration(num('amount_ms'));
    case 'anomalies':
      return `${String(row['severity'] ?? '')} at ${formatTime(row['started_at'])}`.trim();
    default: {
      const never: never = collection;
      return String(never);
    }
  }
}

export const collectionLabels: Record<FactCollection, string> = {
  entry_crossings: 'Crossing',
  stage_results: 'Result',
  entry_penalties: 'Penalty',
  anomalies: 'Anomaly',
};

/** The message of a failed API call: Directus's own error (with the zod reason for a 400) rather than axios's. */
export function errorMessage(error: unknown): string {
  const response = (error as { response?: { data?: { errors?: { message?: string; extensions?: { reason?: string } }[] } } })?.response;
  const first = response?.data?.errors?.[0];
  if (first) return first.extensions?.reason ?? first.message ?? 'request failed';
  return error instanceof Error ? error.message : String(error);
}

/** The `extensions.code` of a Directus error answer, if any. */
export function errorCode(error: unknown): string | null {
  const response = (error as { response?: { data?: { errors?: { extensions?: { code?: string } }[] } } })?.response;
  return response?.data?.errors?.[0]?.extensions?.code ?? null;
}

/** Runs `work` with `pending` set while it runs; a failure shows in `error` (Directus's message) instead of throwing. */
export async function guardedCall(pending: { value: boolean }, error: { value: string | null }, work: () => Promise<void>): Promise<void> {
  pending.value = true;
  error.value = null;
  try {
    await work();
  } catch (e) {
    error.value = errorMessage(e);
  } finally {
    pending.value = false;
  }
}
