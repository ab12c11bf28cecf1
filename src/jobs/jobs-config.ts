import { hostname } from 'node:os';
import { z } from 'zod';
import { loadConfig, vars } from '../config/env.ts';
import { defaultPipelineOptions } from '../domain/pipeline/pipeline-context.ts';

/** `pitwall jobs`, `pitwall replay`, `pitwall backfill`: the job runner's environment. */
export const jobsEnv = z.object({
  DATABASE_URL: vars.databaseUrl,
  /** Directus and the processor's static token: apply mode and the end of every run go through Directus. */
  DIRECTUS_URL: vars.url,
  DIRECTUS_TOKEN: z.string().min(16, 'expected the static token of the Pitwall Processor user'),
  JOBS_CONSUMER: z.string().regex(/^[\w.-]+$/, 'expected letters, digits, dot, dash or underscore').default(hostname()),
  JOBS_POLL_MS: vars.durationMs(1000),
  /** A running run without a heartbeat for this long was interrupted: it is resumed (or failed after 3 tries). */
  JOBS_STALE_MS: vars.durationMs(30_000),
  METRICS_PORT: vars.port(9465),
  LOG_LEVEL: vars.logLevel,
  /** The live processor's racing rules, so that a replay times as the processor did. */
  GATE_DEBOUNCE_MS: vars.durationMs(defaultPipelineOptions.debounceMs),
  SIGNAL_LOSS_MS: vars.durationMs(defaultPipelineOptions.signalLossMs),
  MAX_SPEED_KMH: vars.positiveInt(defaultPipelineOptions.maxSpeedKmh),
});

export type JobsConfig = z.infer<typeof jobsEnv>;

export const loadJobsConfig = (env: NodeJS.ProcessEnv = process.env): JobsConfig => loadConfig(jobsEnv, env);
