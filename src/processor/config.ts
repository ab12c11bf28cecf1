import { hostname } from 'node:os';
import { z } from 'zod';
import { ConfigError, loadConfig, vars } from '../config/env.ts';
import { defaultPipelineOptions, type PipelineOptions } from '../domain/pipeline/pipeline-context.ts';
import { DEFAULT_MAX_FUTURE_SKEW_MS } from '../domain/read-well-formed-entry.ts';

export const processorEnv = z.object({
  DATABASE_URL: vars.databaseUrl,
  REDIS_URL: vars.redisUrl,
  REDIS_TELEMETRY_STREAM: vars.telemetryStream,
  /** Defaults to `<stream>:dead-letter`. */
  DEAD_LETTER_STREAM: z.string().regex(/^\S+$/, 'expected a Redis key without spaces').optional(),
  PROCESSOR_CONSUMER: z.string().regex(/^[\w.-]+$/, 'expected letters, digits, dot, dash or underscore').default(hostname()),
  PROCESSOR_BATCH_SIZE: vars.positiveInt(2000),
  PROCESSOR_BLOCK_MS: vars.durationMs(1000),
  /**
   * Trackers are hashed onto this many shards; each instance holds some (see the README's "Running several
   * processors"). Every instance of one stream must use the same number.
   */
  PROCESSOR_SHARDS: z.coerce.number().int().min(1).max(1024).default(16),
  /** A shard lease not renewed for this long is free: a killed instance's shards move after at most this. */
  PROCESSOR_LEASE_MS: vars.durationMs(6000, 1000),
  /** How often an instance checks the spread of shards over the live instances. */
  PROCESSOR_REBALANCE_MS: vars.durationMs(1000),
  /**
   * /healthz answers 503 (consumer-stalled) when entries wait and the consumer has made no progress (acknowledged a
   * batch, or found nothing new to read) for this long.
   */
  PROCESSOR_STALL_MS: vars.durationMs(120_000),
  /**
   * The nice value of the processor's thread while it drains a backlog (see BacklogPriority); 0 keeps it at normal
   * priority throughout.
   */
  PROCESSOR_BACKLOG_NICE: z.coerce.number().int().min(0).max(19).default(10),
  /**
   * While a backlog drains, fact changes go to Directus at most once per this many ms, many batches' in one request
   * (see OutboxCourier); 0 sends each batch's at once throughout. Caught up, they always go at once.
   */
  PROCESSOR_BACKLOG_FACTS_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
  METRICS_PORT: vars.port(9464),
  LOG_LEVEL: vars.logLevel,
  /** Directus and the processor's static token: without both, the processor stores positions only. */
  DIRECTUS_URL: vars.url.optional(),
  DIRECTUS_TOKEN: z.string().min(16, 'expected the static token of the Pitwall Processor user').optional(),
  PROCESSOR_SETUP_REFRESH_MS: vars.durationMs(5000),
  PROCESSOR_TICK_MS: vars.durationMs(1000),
  /** Racing rules (see PipelineOptions). */
  GATE_DEBOUNCE_MS: vars.durationMs(defaultPipelineOptions.debounceMs),
  SIGNAL_LOSS_MS: vars.durationMs(defaultPipelineOptions.signalLossMs),
  MAX_SPEED_KMH: vars.positiveInt(defaultPipelineOptions.maxSpeedKmh),
  LATE_WINDOW_MS: vars.durationMs(defaultPipelineOptions.lateWindowMs, 0),
  LATE_NOTICE_MS: vars.durationMs(defaultPipelineOptions.lateNoticeMs, 0),
  /** A fix dated further ahead of the processor's clock is dead-lettered: a tracker clock gone wrong, not a fix. */
  MAX_FUTURE_SKEW_MS: vars.durationMs(DEFAULT_MAX_FUTURE_SKEW_MS),
});

export type ProcessorConfig = z.infer<typeof processorEnv> & { DEAD_LETTER_STREAM: string };

export function loadProcessorConfig(env: NodeJS.ProcessEnv = process.env): ProcessorConfig {
  const config = loadConfig(processorEnv, env);
  if (config.DIRECTUS_URL && !config.DIRECTUS_TOKEN) throw new ConfigError('DIRECTUS_TOKEN', 'is required when DIRECTUS_URL is set');
  if (config.DIRECTUS_TOKEN && !config.DIRECTUS_URL) throw new ConfigError('DIRECTUS_URL', 'is required when DIRECTUS_TOKEN is set');
  return { ...config, DEAD_LETTER_STREAM: config.DEAD_LETTER_STREAM ?? `${config.REDIS_TELEMETRY_STREAM}:dead-letter` };
}

/** The consumer group of the persisting processor (CONTRACTS section 1). */
export const PROCESSOR_GROUP = 'processor';

export function pipelineOptions(config: ProcessorConfig): PipelineOptions {
  return {
    debounceMs: config.GATE_DEBOUNCE_MS,
    signalLossMs: config.SIGNAL_LOSS_MS,
    maxSpeedKmh: config.MAX_SPEED_KMH,
    lateWindowMs: config.LATE_WINDOW_MS,
    lateNoticeMs: config.LATE_NOTICE_MS,
  };
}
