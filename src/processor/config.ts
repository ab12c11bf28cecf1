import { hostname } from 'node:os';
import { z } from 'zod';
import { loadConfig, vars } from '../config/env.ts';

export const processorEnv = z.object({
  DATABASE_URL: vars.databaseUrl,
  REDIS_URL: vars.redisUrl,
  REDIS_TELEMETRY_STREAM: vars.telemetryStream,
  /** Defaults to `<stream>:dead-letter`. */
  DEAD_LETTER_STREAM: z.string().regex(/^\S+$/, 'expected a Redis key without spaces').optional(),
  PROCESSOR_CONSUMER: z.string().regex(/^[\w.-]+$/, 'expected letters, digits, dot, dash or underscore').default(hostname()),
  PROCESSOR_BATCH_SIZE: vars.positiveInt(2000),
  PROCESSOR_BLOCK_MS: vars.positiveInt(1000),
  PROCESSOR_CLAIM_IDLE_MS: vars.positiveInt(60_000),
  METRICS_PORT: vars.port(9464),
  LOG_LEVEL: vars.logLevel,
});

export type ProcessorConfig = z.infer<typeof processorEnv> & { DEAD_LETTER_STREAM: string };

export function loadProcessorConfig(env: NodeJS.ProcessEnv = process.env): ProcessorConfig {
  const config = loadConfig(processorEnv, env);
  return { ...config, DEAD_LETTER_STREAM: config.DEAD_LETTER_STREAM ?? `${config.REDIS_TELEMETRY_STREAM}:dead-letter` };
}

/** The consumer group of the persisting processor (CONTRACTS section 1). */
export const PROCESSOR_GROUP = 'processor';
