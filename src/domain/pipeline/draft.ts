import type { Fix } from '../course.ts';
import type { DeviceState, SpeedZoneVisit, StageProgress } from './device-state.ts';
import type { Fact } from './facts.ts';

const NO_ZONES: ReadonlySet<string> = new Set();

/** Whether an object has any own key, without allocating a key array. */
function hasKeys(record: object): boolean {
  for (const _ in record) return true;
  return false;
}

/**
 * A step's working copy of a DeviceState: the records it touches are copied once, on first use, the rest stays
 * shared with the previous state, and the keys of facts it sets are remembered for the caller. Most fixes touch
 * nothing but `last` (replay runs millions of them), so nothing is copied up front.
 */
export class Draft {
  last: Fix | null;
  suspect: Fix | null;
  openSignalLossFrom: number | null;
  private changedKeys: Set<string> | null = null;
  private zones: Set<string> | null = null;
  private progressCopy: Record<string, StageProgress> | null = null;
  private lastCrossingCopy: Record<string, number> | null = null;
  private speedVisitsCopy: Record<string, SpeedZoneVisit> | null = null;
  private factsCopy: Record<string, Fact> | null = null;

  constructor(readonly base: DeviceState) {
    this.last = base.last;
    this.suspect = base.suspect;
    this.openSignalLossFrom = base.openSignalLossFrom;
  }

  get insideZones(): Set<string> {
    return (this.zones ??= new Set(this.base.insideZones));
  }

  /** The zones the device is in, to read: no copy while it is in none (most of a track). */
  get zonesNow(): ReadonlySet<string> {
    return this.zones ?? (this.base.insideZones.length === 0 ? NO_ZONES : this.insideZones);
  }

  set insideZones(zones: Set<string>) {
    this.zones = zones;
  }

  get progress(): Record<string, StageProgress> {
    return (this.progressCopy ??= { ...this.base.progress });
  }

  get lastCrossing(): Record<string, number> {
    return (this.lastCrossingCopy ??= { ...this.base.lastCrossing });
  }

  get speedVisits(): Record<string, SpeedZoneVisit> {
    return (this.speedVisitsCopy ??= { ...this.base.speedVisits });
  }

  /** Whether a speed-zone visit is open, without copying the visits. */
  get hasSpeedVisits(): boolean {
    return hasKeys(this.speedVisitsCopy ?? this.base.speedVisits);
  }

  get facts(): Record<string, Fact> {
    return (this.factsCopy ??= { ...this.base.facts });
  }

  setFact(fact: Fact): void {
    this.facts[fact.key] = fact;
    (this.changedKeys ??= new Set()).add(fact.key);
  }

  /** Takes a fact back: the key counts as changed, and is no longer in the facts (the caller retracts it). */
  dropFact(key: string): void {
    if (!(key in this.facts)) return;
    delete this.facts[key];
    (this.changedKeys ??= new Set()).add(key);
  }

  /** Keys of the facts this step set or dropped, in the order first touched. */
  get changed(): string[] {
    return this.changedKeys === null ? [] : [...this.changedKeys];
  }

  finish(): DeviceState {
    return {
      deviceId: this.base.deviceId,
      last: this.last,
      suspect: this.suspect,
      insideZones: this.zones === null || sameMembers(this.zones, this.base.insideZones) ? this.base.insideZones : [...this.zones].sort(),
      progress: this.progressCopy ?? this.base.progress,
      lastCrossing: this.lastCrossingCopy ?? this.base.lastCrossing,
      speedVisits: this.speedVisitsCopy ?? this.base.speedVisits,
      openSignalLossFrom: this.openSignalLossFrom,
      facts: this.factsCopy ?? this.base.facts,
    };
  }
}

/** `sorted` is a state's insideZones (sorted, unique): equal members means the same array can be kept. */
function sameMembers(zones: ReadonlySet<string>, sorted: readonly string[]): boolean {
  if (zones.size !== sorted.length) return false;
  for (const id of sorted) if (!zones.has(id)) return false;
  return true;
}
