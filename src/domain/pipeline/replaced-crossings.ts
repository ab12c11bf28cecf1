import { factKey, type CrossingFact, type Fact } from './facts.ts';

/** A crossing stored for a tracker, as read back from `entry_crossings`. */
export interface StoredTrackerCrossing {
  entryId: string;
  gateId: string;
  crossedAt: number;
}

/**
 * The keys of stored crossings that the facts of a tracker rebuilt from its stored fixes replace: of a passage (an
 * entry at a line) the rebuild timed, those at another time. Live, a tracker's pipeline retracts a crossing a late
 * fix moves; a fix later than the late window is stored but not timed, so the rebuild after a restart times the line
 * with it, and the passage kept both crossings (a tester's car had two splits 8 ms apart, and a second
 * timing.crossing.recorded). Passages the rebuild did not time are left alone: its fixes may not reach that far back.
 */
export function replacedCrossings(rebuilt: readonly Fact[], stored: readonly StoredTrackerCrossing[]): string[] {
  const crossings = rebuilt.filter((fact): fact is CrossingFact => fact.type === 'crossing');
  const made = new Set(crossings.map((crossing) => crossing.key));
  const passages = new Set(crossings.map((crossing) => `${crossing.entryId}:${crossing.gateId}`));
  return stored
    .filter((row) => passages.has(`${row.entryId}:${row.gateId}`))
    .map((row) => factKey.crossing(row.entryId, row.gateId, row.crossedAt))
    .filter((key) => !made.has(key));
}
