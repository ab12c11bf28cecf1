import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { healthErrors, healthReport, probe, serveMetrics } from '../observability/metrics-server.ts';
import { connectDb, type Db } from '../store/db.ts';
import { jobEngines } from './engines.ts';
import { runTable, type RunKind } from './job.ts';
import { JobRunner } from './job-runner.ts';
import type { JobsConfig } from './jobs-config.ts';

const kinds: RunKind[] = ['replay', 'backfill'];

/** `pitwall jobs`: the job runner as a service, with /metrics (runs by kind and status) and /healthz. */
export class JobsService {
  readonly db: Db;
  readonly runner: JobRunner;
  readonly registry = new Registry();
  private server: Server | null = null;

  constructor(private readonly config: JobsConfig, private readonly log: Logger) {
    // A replay and a backfill at once (one lane each): a backfill reads with one connection and writes with two, a
    // replay holds one for its read; heartbeats, the search for interrupted runs and /healthz beside them.
    this.db = connectDb(config.DATABASE_URL, { pool: 8, application: `pitwall-jobs-${config.JOBS_CONSUMER}`, log });
    this.runner = new JobRunner(
      this.db,
      {
        engines: jobEngines({ debounceMs: config.GATE_DEBOUNCE_MS, signalLossMs: config.SIGNAL_LOSS_MS, maxSpeedKmh: config.MAX_SPEED_KMH }),
        directus: { directusUrl: config.DIRECTUS_URL, token: config.DIRECTUS_TOKEN },
        pollMs: config.JOBS_POLL_MS,
        staleMs: config.JOBS_STALE_MS,
      },
      log,
    );
    collectDefaultMetrics({ register: this.registry });
    const db = this.db;
    new Gauge({
      name: 'pitwall_job_runs',
      help: 'Replay and backfill runs by kind and status',
      labelNames: ['kind', 'status'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const kind of kinds) {
          const rows = await db(runTable(kind)).select('status').count<{ status: string; count: string }[]>('* as count').groupBy('status');
          for (const row of rows) this.set({ kind, status: row.status }, Number(row.count));
        }
      },
    });
    const runner = this.runner;
    new Gauge({
      name: 'pitwall_job_run_progress',
      help: 'Progress (0..1) of the runs this runner works on',
      labelNames: ['kind', 'run'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [run, { kind, progress }] of runner.active) this.set({ kind, run }, progress.total ? progress.processed / progress.total : 0);
      },
    });
  }

  async start(): Promise<void> {
    this.log.info({ directus: this.config.DIRECTUS_URL, consumer: this.config.JOBS_CONSUMER }, 'job runner starting');
    // The same body as the processor's /healthz: ok, the reasons when not, what was seen.
    this.server = await serveMetrics(this.registry, this.config.METRICS_PORT, async () => {
      const postgres = await probe(() => this.db.raw('SELECT 1'), 3000);
      return healthReport(postgres.ok ? [] : ['postgres-unreachable'], {
        postgres: postgres.ok,
        active: [...this.runner.active.keys()],
        finished: this.runner.finished,
        ...healthErrors({ postgres }),
      });
    });
    this.runner.start();
  }

  async close(): Promise<void> {
    await this.runner.close();
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)));
    await this.db.destroy();
  }
}
