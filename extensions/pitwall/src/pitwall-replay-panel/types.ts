/**
 * What the panel reads from Directus and the bundle's endpoint. The run's `result` is the job runner's
 * ReplaySummary (src/jobs/replay/run-replay.ts); type-only imports, so nothing of the runner reaches the app bundle.
 */
import type { CandidateGeofence } from '../../../../src/jobs/replay/replay-params.ts';
import type { DiffRow, ReplaySummary } from '../../../../src/jobs/replay/run-replay.ts';

export type { DiffRow, ReplaySummary };
export type ReplayTrack = ReplaySummary['tracks'][number];
export type ReplayCrossing = ReplaySummary['crossings'][number];
export type DiffChange = DiffRow['change'];

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** The body of `POST /pitwall/replay`. */
export interface ReplayRequest {
  event?: string;
  stage?: string;
  entries?: string[];
  from?: string;
  to?: string;
  mode: 'preview' | 'apply';
  /** A layout to try instead of the stored geofences of the stages its rows name (preview only, from the panel). */
  geofences?: CandidateGeofence[];
}

/** A row of `replay_runs` as `GET /pitwall/replay/:run` answers it (and, without `result`, `/items/replay_runs`). */
export interface ReplayRun {
  id: string;
  status: RunStatus;
  params: ReplayRequest | null;
  progress: number | string | null;
  processed: number | string | null;
  total: number | string | null;
  result?: ReplaySummary | null;
  error: string | null;
  started_at: string | null;
  finished_at: string | null;
  date_created: string | null;
  /** Running, but its job runner has been silent this many seconds (a runner stopped mid-run); null otherwise. */
  stalled_seconds?: number | null;
}

export interface RaceEvent {
  id: string;
  name: string;
  starts_at: string | null;
  ends_at: string | null;
  /** As `GET /pitwall/race-setup` nests them. */
  stages?: RaceStage[];
}

export interface RaceStage {
  id: string;
  name: string;
  sort_order: number | null;
  opens_at: string | null;
  closes_at: string | null;
}

export interface RaceEntry {
  id: string;
  race_number: number | null;
  name: string | null;
}

export const activeStatuses: readonly RunStatus[] = ['queued', 'running'];
export const isActive = (run: Pick<ReplayRun, 'status'> | null): boolean => run !== null && activeStatuses.includes(run.status);
