import type { Fix } from '../course.ts';
import type { Fact } from './facts.ts';

/** One entry's progress through one stage. */
export interface StageProgress {
  entryId: string;
  stageId: string;
  status: 'running' | 'finished' | 'dnf';
  startedAt: number;
  finishedAt: number | null;
  /** First crossing time of each split gate. */
  splits: Readonly<Record<string, number>>;
  /** Time each waypoint was validated. */
  waypoints: Readonly<Record<string, number>>;
}

/** An open passage through a speed zone and what it has cost so far. */
export interface SpeedZoneVisit {
  zoneId: string;
  enteredAt: number;
  overMs: number;
  overM: number;
  maxSpeedKmh: number;
  penaltyMs: number;
}

/**
 * Everything a device's pipeline remembers between fixes. Treated as immutable: a step returns a new state that
 * shares what did not change, so earlier states can be kept for re-evaluating late fixes.
 */
export interface DeviceState {
  deviceId: string;
  /** The last fix the geofences were evaluated up to. */
  last: Fix | null;
  /** A fix rejected as a position jump, kept in case the next fix confirms it. */
  suspect: Fix | null;
  insideZones: readonly string[];
  /** Keyed by `${entryId}:${stageId}`. */
  progress: Readonly<Record<string, StageProgress>>;
  /** Last counted crossing per gate, for the debounce. */
  lastCrossing: Readonly<Record<string, number>>;
  speedVisits: Readonly<Record<string, SpeedZoneVisit>>;
  /** Time of the last fix before a signal loss that a tick already reported as open. */
  openSignalLossFrom: number | null;
  /** The current version of every fact this device produced, by key. */
  facts: Readonly<Record<string, Fact>>;
}

export function initialDeviceState(deviceId: string): DeviceState {
  return {
    deviceId,
    last: null,
    suspect: null,
    insideZones: [],
    progress: {},
    lastCrossing: {},
    speedVisits: {},
    openSignalLossFrom: null,
    facts: {},
  };
}

export const progressKey = (entryId: string, stageId: string) => `${entryId}:${stageId}`;
