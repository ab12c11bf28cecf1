import type { Course } from '../course.ts';
import type { FactChanges } from './device-pipeline.ts';
import { entryTiming, isTimingFact, type TrackerView } from './entry-timing.ts';
import type { Fact } from './facts.ts';
import type { EntryAssignment, PipelineContext, TrackerRole } from './pipeline-context.ts';

export interface EntryTracker {
  deviceId: string;
  role: TrackerRole;
}

/** Entries carried by more than one tracker (entry_devices), with their trackers: those are timed together. */
export function sharedEntries(assignments: ReadonlyMap<string, readonly EntryAssignment[]>): Map<string, EntryTracker[]> {
  const byEntry = new Map<string, Map<string, TrackerRole>>();
  for (const [deviceId, rows] of assignments) {
    for (const row of rows) {
      const trackers = byEntry.get(row.entryId) ?? new Map<string, TrackerRole>();
      // A tracker listed twice for one entry is its primary if either row says so.
      if (trackers.get(deviceId) !== 'primary') trackers.set(deviceId, row.role);
      byEntry.set(row.entryId, trackers);
    }
  }
  const shared = new Map<string, EntryTracker[]>();
  for (const [entryId, trackers] of byEntry) {
    if (trackers.size > 1) shared.set(entryId, [...trackers].map(([deviceId, role]) => ({ deviceId, role })).sort((a, b) => a.deviceId.localeCompare(b.deviceId)));
  }
  return shared;
}

/**
 * The entry whose timing a fact key belongs to (the key formats of factKey), or null for a tracker's own anomaly.
 * A missed-waypoint anomaly names its tracker and stage: its entry is the tracker's entry in that stage's event.
 */
function timingEntryOfKey(key: string, context: PipelineContext): string | null {
  const parts = key.split(':');
  if (parts[0] !== 'anomaly') return parts[1] ?? null;
  if (parts[2] !== 'missed_waypoint') return null;
  const event = context.course.stages.find((s) => s.id === parts[3])?.eventId;
  return context.assignments.find((a) => a.eventId === event)?.entryId ?? null;
}

const noChanges = (): FactChanges => ({ upserts: [], retractions: [] });

/**
 * Times entries that carry several trackers once, from all of them (entryTiming): each tracker's pipeline runs on
 * its own fixes, `route` keeps back the timing facts it made for such an entry, and `retime` turns the entry's
 * timing from all its trackers into changes against what was emitted for it before. Entries with one tracker pass
 * through untouched.
 */
export class EntryTimings {
  private emitted = new Map<string, ReadonlyMap<string, Fact>>();

  constructor(private shared: ReadonlyMap<string, readonly EntryTracker[]> = new Map()) {}

  /** entry_devices changed: later routing uses the new trackers, and what was emitted stays known. */
  setShared(shared: ReadonlyMap<string, readonly EntryTracker[]>): void {
    this.shared = shared;
  }

  /** The trackers of an entry timed from several, or null for an entry with one. */
  trackersOf(entryId: string): readonly EntryTracker[] | null {
    return this.shared.get(entryId) ?? null;
  }

  /** Splits one tracker's changes: what it decides alone, and the shared entries whose timing must be redone. */
  route(changes: FactChanges, context: PipelineContext): { own: FactChanges; entries: Set<string> } {
    const entries = new Set<string>();
    if (this.shared.size === 0) return { own: changes, entries };
    const own = noChanges();
    for (const fact of changes.upserts) {
      if (fact.entryId !== null && isTimingFact(fact) && this.shared.has(fact.entryId)) entries.add(fact.entryId);
      else own.upserts.push(fact);
    }
    for (const key of changes.retractions) {
      const entryId = timingEntryOfKey(key, context);
      if (entryId !== null && this.shared.has(entryId)) entries.add(entryId);
      else own.retractions.push(key);
    }
    return { own, entries };
  }

  /** The entry's timing from its trackers now, as changes against what was emitted for it. */
  retime(entryId: string, trackers: readonly TrackerView[], course: Course, signalLossMs: number): FactChanges {
    const before = this.emitted.get(entryId) ?? new Map<string, Fact>();
    const now = new Map(entryTiming(entryId, trackers, course, signalLossMs).map((fact) => [fact.key, fact]));
    this.emitted.set(entryId, now);
    const changes = noChanges();
    for (const [key, fact] of now) if (JSON.stringify(before.get(key)) !== JSON.stringify(fact)) changes.upserts.push(fact);
    for (const key of before.keys()) if (!now.has(key)) changes.retractions.push(key);
    return changes;
  }

  /** A way back to this moment, for a batch that could not be made durable. */
  checkpoint(): () => void {
    const emitted = new Map(this.emitted);
    return () => {
      this.emitted = emitted;
    };
  }
}
