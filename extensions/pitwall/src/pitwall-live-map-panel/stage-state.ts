/** What a clicked car is doing on the stages, in the words of a timekeeper. Pure, for the unit tests. */
import { formatRaceTime } from '../../../../src/domain/timing/format-race-time.ts';
import { formatTimeOfDay } from '../../../../src/domain/timing/format-time-of-day.ts';
import type { StageResultState } from '../shared/live-setup.ts';

export interface StageState {
  status: StageResultState['status'] | 'none';
  text: string;
}

const ms = (iso: string | null): number => (iso ? Date.parse(iso) : -Infinity);

/**
 * The entry's current stage state from its stored results: the stage it is running (the latest started) first;
 * otherwise the last stage it ended, finished ("Finished SS1 in 6:59.0") or not ("DNF on SS1").
 */
export function stageStateOf(results: readonly StageResultState[], stageName: (id: string) => string, options: { timeZone?: string } = {}): StageState {
  const { timeZone = 'UTC' } = options;
  const running = results.filter((r) => r.status === 'running').sort((a, b) => ms(b.started_at) - ms(a.started_at))[0];
  if (running) {
    const since = running.started_at ? ` since ${formatTimeOfDay(running.started_at, { timeZone, decimals: 0 })}` : '';
    return { status: 'running', text: `Running on ${stageName(running.stage)}${since}` };
  }
  const ended = [...results].sort((a, b) => Math.max(ms(b.finished_at), ms(b.started_at)) - Math.max(ms(a.finished_at), ms(a.started_at)))[0];
  if (!ended) return { status: 'none', text: 'No stage started yet' };
  if (ended.status === 'dnf') return { status: 'dnf', text: `DNF on ${stageName(ended.stage)}` };
  const elapsed = formatRaceTime(ended.elapsed_ms, { decimals: 1 });
  const penalised = ended.total_ms !== null && ended.elapsed_ms !== null && ended.total_ms > ended.elapsed_ms;
  return { status: 'finished', text: `Finished ${stageName(ended.stage)} in ${elapsed}${penalised ? ` (${formatRaceTime(ended.total_ms, { decimals: 1 })} with penalties)` : ''}` };
}
