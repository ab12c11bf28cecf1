import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { ZodType } from 'zod';
import { callDirectus, factsFailure, PayloadTooLargeError, RejectedBatchError, type DirectusTarget } from '../directus/directus-api.ts';
import { JobCancelledError, runTable, type JobContext, type JobProgress, type RunKind } from './job.ts';
import { claimRun, markFinal, recordCancelledProgress, recordProgress, recordResult, requeueInterrupted, type ClaimedRun } from './run-store.ts';

/** One kind of job: how its params are checked and the engine that does the work. */
export interface JobEngine<P = unknown> {
  params: ZodType<P>;
  run(params: P, ctx: RunContext): Promise<Record<string, unknown>>;
}

/** What a run's engine gets: the job context, and the way to the bundle's endpoint (replay's apply mode). */
export interface RunContext extends JobContext {
  runId: string;
  directus: DirectusTarget;
  /**
   * Called once before a phase that must not be stopped half-way (a replay's apply): from then on a cancel is
   * refused (the cancel route answers 409). Rejects with JobCancelledError when the run was cancelled before.
   */
  final(): Promise<void>;
}

export interface JobRunnerOptions {
  engines: Partial<Record<RunKind, JobEngine<any>>>;
  directus: DirectusTarget;
  /** How often an idle runner looks for queued runs. */
  pollMs?: number;
  /** A running run without a heartbeat for this long was interrupted. */
  staleMs?: number;
  /** An interrupted run is resumed at most this many times, then failed with the reason. */
  maxAttempts?: number;
}

/** Progress reaches the run's row this often while a run works (and as its heartbeat). */
export const PROGRESS_INTERVAL_MS = 1000;

export interface RunOutcome {
  status: 'succeeded' | 'failed' | 'cancelled';
  result?: Record<string, unknown>;
  error?: string;
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));
/** What the end route takes of an error message; the rest goes to the log. */
const ERROR_CHARS = 10_000;
/** Resolves after `ms`, or at once when `signal` aborts. */
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Runs replay and backfill runs outside Directus: claims queued rows of `replay_runs` / `backfill_runs`, gives each
 * to its engine, writes progress and a heartbeat every second, stops a run soon after it is cancelled, and puts
 * runs whose runner died back in the queue. The final status goes through the bundle's endpoint into Directus, so
 * that Directus records it and the bundle's hook can emit `replay.completed` / `backfill.completed`.
 */
export class JobRunner {
  private readonly stopping = new AbortController();
  private loopDone: Promise<unknown> | null = null;
  private readonly wakers = new Set<() => void>();
  /** Runs this runner works on, from their claim until their end is recorded: never taken for interrupted. */
  private readonly held = new Set<string>();
  readonly active = new Map<string, { kind: RunKind; progress: JobProgress }>();
  finished = 0;

  constructor(
    private readonly db: Knex,
    private readonly options: JobRunnerOptions,
    private readonly log: Logger,
  ) {}

  private get kinds(): RunKind[] {
    return Object.keys(this.options.engines) as RunKind[];
  }

  /**
   * One lane per kind of run, each taking its queue's runs one at a time: a timekeeper's replay preview does not wait
   * behind an hour-long backfill, nor a backfill behind a replay. Interrupted runs are looked for beside them.
   */
  start(): void {
    if (this.loopDone) throw new Error('the job runner is already running');
    this.log.info({ kinds: this.kinds }, 'job runner started');
    this.loopDone = Promise.all([this.recoverEvery((this.options.staleMs ?? 30_000) / 2), ...this.kinds.map((kind) => this.lane(kind))]);
  }

  /** Looks for queued runs now rather than after the poll interval. */
  nudge(): void {
    for (const wake of this.wakers) wake();
  }

  async close(): Promise<void> {
    this.stopping.abort();
    this.nudge();
    await this.loopDone;
  }

  private async lane(kind: RunKind): Promise<void> {
    const pollMs = this.options.pollMs ?? 1000;
    while (!this.stopping.signal.aborted) {
      try {
        const run = await claimRun(this.db, kind);
        if (run) await this.execute(run);
        else await this.idle(pollMs);
      } catch (error) {
        this.log.warn({ err: error, kind }, 'job runner: looking for runs failed; trying again');
        await sleep(pollMs * 5, this.stopping.signal);
      }
    }
  }

  /** Until the poll interval has passed, a nudge comes or the runner closes. */
  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.wakers.delete(done);
        resolve();
      };
      this.wakers.add(done);
      void sleep(ms, this.stopping.signal).then(done);
    });
  }

  private async recoverEvery(ms: number): Promise<void> {
    while (!this.stopping.signal.aborted) {
      try {
        await this.recover();
      } catch (error) {
        this.log.warn({ err: error }, 'job runner: looking for interrupted runs failed; trying again');
      }
      await sleep(ms, this.stopping.signal);
    }
  }

  /** Interrupted runs: back to the queue, or failed once they were interrupted too often. */
  private async recover(): Promise<void> {
    for (const kind of this.kinds) {
      const maxAttempts = this.options.maxAttempts ?? 3;
      for (const run of await requeueInterrupted(this.db, kind, this.options.staleMs ?? 30_000, maxAttempts, [...this.held])) {
        const error = `interrupted ${run.attempts} times (its runner stopped without finishing it); not resumed again`;
        this.log.warn({ kind, run: run.id }, error);
        await this.finish(kind, run.id, { status: 'failed', error });
      }
    }
  }

  /** Claims one particular queued run and executes it here (the CLI's way to run a run in the foreground). */
  async runNow(kind: RunKind, id: string, onProgress?: (progress: JobProgress) => void): Promise<RunOutcome | null> {
    const run = await claimRun(this.db, kind, id);
    return run ? this.execute(run, onProgress) : null;
  }

  /** Works on one claimed run to its end, and records the end. */
  async execute(run: ClaimedRun, onProgress?: (progress: JobProgress) => void): Promise<RunOutcome> {
    this.held.add(run.id);
    try {
      return await this.work(run, onProgress);
    } finally {
      this.held.delete(run.id);
    }
  }

  private async work(run: ClaimedRun, onProgress?: (progress: JobProgress) => void): Promise<RunOutcome> {
    const log = this.log.child({ kind: run.kind, run: run.id });
    const engine = this.options.engines[run.kind]!;
    const cancelled = new AbortController();
    const stopOnClose = () => cancelled.abort();
    this.stopping.signal.addEventListener('abort', stopOnClose, { once: true });
    // Told to stop while this run was being claimed: the listener above would never hear it.
    if (this.stopping.signal.aborted) cancelled.abort();
    let latest: JobProgress = { processed: 0, total: null };
    let written: JobProgress | null = null;
    this.active.set(run.id, { kind: run.kind, progress: latest });

    const flush = async () => {
      const snapshot = latest;
      const stillRunning = await recordProgress(this.db, run.kind, run.id, snapshot);
      written = snapshot;
      if (!stillRunning) cancelled.abort();
    };
    const heartbeat = setInterval(() => {
      flush().catch((error) => log.warn({ err: error }, 'writing run progress failed'));
    }, PROGRESS_INTERVAL_MS);

    const ctx: RunContext = {
      db: this.db,
      log,
      signal: cancelled.signal,
      checkpoint: run.checkpoint,
      runId: run.id,
      directus: this.options.directus,
      final: async () => {
        if (await markFinal(this.db, run.kind, run.id, run.attempts)) return;
        cancelled.abort();
        throw new JobCancelledError('the run was cancelled before its last phase');
      },
      progress: async (progress) => {
        latest = progress;
        this.active.set(run.id, { kind: run.kind, progress });
        onProgress?.(progress);
      },
    };

    let outcome: RunOutcome;
    try {
      const parsed = engine.params.safeParse(run.params);
      if (!parsed.success) {
        outcome = { status: 'failed', error: `invalid params: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(params)'}: ${i.message}`).join('; ')}` };
      } else {
        log.info({ attempt: run.attempts }, 'run started');
        const result = await engine.run(parsed.data, ctx);
        outcome = { status: 'succeeded', result };
      }
    } catch (error) {
      if (error instanceof JobCancelledError || cancelled.signal.aborted) {
        outcome = { status: 'cancelled' };
      } else {
        log.error({ err: error }, 'run failed');
        outcome = { status: 'failed', error: message(error) };
      }
    } finally {
      clearInterval(heartbeat);
      this.stopping.signal.removeEventListener('abort', stopOnClose);
      this.active.delete(run.id);
    }

    if (outcome.status === 'cancelled') {
      // Cancelled by a user: the row already says so. Stopped because this runner is closing: left running, so
      // that recovery puts it back in the queue after the heartbeat goes stale.
      if (!this.stopping.signal.aborted) await recordCancelledProgress(this.db, run.kind, run.id, latest).catch((error) => log.warn({ err: error }, 'recording the progress of a cancelled run failed'));
      log.info({ closing: this.stopping.signal.aborted, processed: latest.processed }, 'run stopped');
      return outcome;
    }
    if (written !== latest) await flush().catch(() => undefined);
    if (!(await this.finish(run.kind, run.id, outcome))) return outcome;
    this.finished++;
    log.info({ status: outcome.status }, 'run ended');
    return outcome;
  }

  /**
   * The final status, through the bundle's `POST /pitwall/<kind>/:run/end` (which records it only while the run is
   * still `running`, so a cancel is never overwritten). The result goes into the row first, by SQL: it can be larger
   * than a request Directus accepts, and the end route takes only the fields that record an end. Retried by the
   * outbox courier's rules (factsFailure: a 404 from a Directus being deployed, 401/403, 5xx, the network; only the
   * route's own validation answer is final) until it is recorded or the run is no longer running (cancelled
   * meanwhile); the heartbeat keeps the run from being taken back meanwhile. If this runner is told to
   * stop meanwhile, it lets go rather than hold its shutdown hostage to Directus: the run stays `running`, and once
   * its heartbeat is stale a runner takes it back and runs it again (both engines are idempotent). Returns whether
   * the status was recorded.
   */
  private async finish(kind: RunKind, id: string, outcome: RunOutcome): Promise<boolean> {
    if (outcome.result) await recordResult(this.db, kind, id, outcome.result);
    if (outcome.error && outcome.error.length > ERROR_CHARS) this.log.warn({ run: id, error: outcome.error }, 'run error message shortened in the run');
    const body = {
      status: outcome.status,
      ...(outcome.error ? { error: outcome.error.length > ERROR_CHARS ? `${outcome.error.slice(0, ERROR_CHARS - 1)}…` : outcome.error } : {}),
    };
    let backoff = 500;
    for (;;) {
      try {
        await callDirectus(this.options.directus, 'POST', `/pitwall/${kind}/${id}/end`, body, factsFailure);
        return true;
      } catch (error) {
        // "Too large" for a body this small is Directus's MAX_PAYLOAD_SIZE set too low: retried, as the courier does.
        if (error instanceof RejectedBatchError && !(error instanceof PayloadTooLargeError)) throw error;
        if (!this.stopping.signal.aborted) {
          this.log.warn({ err: error, run: id, retryInMs: backoff }, 'recording the end of a run failed; will retry');
          const beating = await this.db(runTable(kind)).where({ id, status: 'running' }).update({ heartbeat_at: this.db.fn.now() }).catch(() => 1);
          if (beating === 0) {
            // No longer running: an earlier attempt was recorded (its answer lost), or the run was cancelled.
            const now = await this.db(runTable(kind)).where({ id }).first('status').catch(() => null);
            if (now?.status === outcome.status) return true;
            this.log.info({ run: id, status: now?.status ?? null }, 'the run ended otherwise before Directus recorded its end (cancelled or removed)');
            return false;
          }
          await sleep(backoff, this.stopping.signal);
          backoff = Math.min(backoff * 2, 15_000);
        }
        if (this.stopping.signal.aborted) {
          this.log.warn({ err: error, run: id }, 'stopping before Directus recorded the end of a run; it will be run again');
          return false;
        }
      }
    }
  }
}
