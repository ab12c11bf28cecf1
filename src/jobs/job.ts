import type { Knex } from 'knex';
import type { Logger } from 'pino';

/** The two kinds of long-running jobs; each has its Directus collection `<kind>_runs` (CONTRACTS section 3). */
export type RunKind = 'replay' | 'backfill';
export const runTable = (kind: RunKind): string => `${kind}_runs`;

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const terminalStatuses: readonly RunStatus[] = ['succeeded', 'failed', 'cancelled'];

/** A run in one of these states is over: nothing works on it any more. */
export const isTerminal = (status: unknown): boolean => (terminalStatuses as readonly unknown[]).includes(status);

/** What an engine reports while it works; the runner writes it to the run's row at most once a second. */
export interface JobProgress {
  processed: number;
  /** Null while unknown. */
  total: number | null;
  /** Where a resumed run starts again (backfill); stored as JSON in the run's `checkpoint`. */
  checkpoint?: unknown;
}

/** Thrown by an engine when its signal was aborted: the run was cancelled. */
export class JobCancelledError extends Error {
  override name = 'JobCancelledError';
}

/**
 * What the runner gives an engine. An engine reads and writes the telemetry plane with `db`, reports progress
 * often (every batch: the runner throttles the writes), stops with JobCancelledError soon after `signal` aborts,
 * and returns a JSON summary that becomes the run's `result`.
 */
export interface JobContext {
  db: Knex;
  log: Logger;
  signal: AbortSignal;
  /** The checkpoint of an earlier attempt of this run, or null on its first attempt. */
  checkpoint: unknown;
  progress(progress: JobProgress): Promise<void>;
}

export function throwIfCancelled(signal: AbortSignal): void {
  if (signal.aborted) throw new JobCancelledError('the run was cancelled');
}
