import type { Fix } from '../course.ts';
import type { DeviceState, SpeedZoneVisit, StageProgress } from './device-state.ts';
import type { Fact } from './facts.ts';

/**
 * A step's working copy of a DeviceState: the records it touches are copied once, the rest stays shared with
 * the previous state, and the keys of facts it sets are remembered for the caller.
 */
export class Draft {
  last: Fix | null;
  suspect: Fix | null;
  openSignalLossFrom: number | null;
  insideZones: Set<string>;
  progress: Record<string, StageProgress>;
  lastCrossing: Record<string, number>;
  speedVisits: Record<string, SpeedZoneVisit>;
  facts: Record<string, Fact>;
  readonly changed = new Set<string>();

  constructor(readonly base: DeviceState) {
    this.last = base.last;
    this.suspect = base.suspect;
    this.openSignalLossFrom = base.openSignalLossFrom;
    this.insideZones = new Set(base.insideZones);
    this.progress = { ...base.progress };
    this.lastCrossing = { ...base.lastCrossing };
    this.speedVisits = { ...base.speedVisits };
    this.facts = { ...base.facts };
  }

  setFact(fact: Fact): void {
    this.facts[fact.key] = fact;
    this.changed.add(fact.key);
  }

  finish(): DeviceState {
    return {
      deviceId: this.base.deviceId,
      last: this.last,
      suspect: this.suspect,
      insideZones: [...this.insideZones].sort(),
      progress: this.progress,
      lastCrossing: this.lastCrossing,
      speedVisits: this.speedVisits,
      openSignalLossFrom: this.openSignalLossFrom,
      facts: this.facts,
    };
  }
}
