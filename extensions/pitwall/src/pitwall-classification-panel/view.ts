/** How the classification panel writes what the endpoint answers; pure, so the unit tests load it without Vue. */
import { formatRaceTime } from '../../../../src/domain/timing/format-race-time.ts';
import type { ResultStatus } from '../shared/classification.ts';

/** The stage picker's value for the event's overall classification. */
export const OVERALL = 'overall';

/** How often the panel reads the classification again while the dashboard is visible. */
export const POLL_MS = 3000;

const pad2 = (n: number) => String(n).padStart(2, '0');

/** "3", "=2" for a rank shared with another entry, "" for the unranked (running, DNF, not classified). */
export function rankLabel(rank: number | null, tied: boolean): string {
  if (rank === null) return '';
  return tied ? `=${rank}` : String(rank);
}

/** Stage times to the millisecond, as they were timed: "1:42.036", "1:02:03.500"; "—" when there is none. */
export const raceTime = (ms: number | null | undefined): string => formatRaceTime(ms, { decimals: 3 });

/** A gap behind the leader or the car ahead: "+0:01.500"; "—" for the leader and the unranked. */
export const gapTime = (ms: number | null | undefined): string => formatRaceTime(ms, { decimals: 3, signed: true });

/**
 * A penalty to the millisecond like every time beside it, so the column reads alike where a hand penalty of whole
 * seconds sits under a computed one: "+1:00.000", "+0:52.573"; "—" when there is none.
 */
export const penaltyTime = (ms: number | null | undefined): string => (ms ? formatRaceTime(ms, { decimals: 3, signed: true }) : '—');

export const statusLabels: Record<ResultStatus, string> = { running: 'Running', finished: 'Finished', dnf: 'DNF' };

/** "#101", or "" for an entry without a number. */
export const raceNumberLabel = (n: number | null): string => (n === null ? '' : `#${n}`);

/** A time of day in the viewer's zone, to the second: "14:03:27"; "" when there is none. */
export function clockTime(value: string | number | Date | null | undefined): string {
  if (value === null || value === undefined) return '';
  const d = new Date(value);
  if (!Number.isFinite(d.getTime())) return '';
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** A date and time in the viewer's zone, to the second: "2026-11-28 14:03:27". */
export function dateTime(value: string | number | Date | null | undefined): string {
  if (value === null || value === undefined) return '';
  const d = new Date(value);
  if (!Number.isFinite(d.getTime())) return '';
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${clockTime(d)}`;
}

/** The stage picker: the event's overall classification first, then its stages in running order. */
export function stageChoices(stages: readonly { id: string; name: string | null }[]): { text: string; value: string }[] {
  return [{ text: 'Overall', value: OVERALL }, ...stages.map((s) => ({ text: s.name ?? s.id, value: s.id }))];
}

/** The title of a classification: "SS1 Erg Chebbi: stage classification", "Overall classification after SS1, SS2". */
export function classificationTitle(
  c: { kind: 'stage'; stage: { name: string | null } } | { kind: 'overall'; stages: readonly { name: string | null }[] },
): string {
  if (c.kind === 'stage') return `${c.stage.name ?? 'Stage'}: stage classification`;
  if (c.stages.length === 0) return 'Overall classification: no stage run yet';
  return `Overall classification after ${c.stages.map((s) => s.name ?? '?').join(', ')}`;
}

/** "1 of 2 stages" for an entry listed apart from the overall classification. */
export const stagesFinishedLabel = (finished: number, counted: number): string => `${finished} of ${counted} stage${counted === 1 ? '' : 's'}`;

/** A panel option as an id: a plain uuid, or the {key} that a collection-item-dropdown stores. */
export function optionId(value: unknown): string | null {
  if (typeof value === 'string') return value.trim() || null;
  if (value && typeof value === 'object' && 'key' in value && (value as { key: unknown }).key) return String((value as { key: unknown }).key);
  return null;
}
