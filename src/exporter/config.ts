import { hostname } from 'node:os';
import { z } from 'zod';
import { loadConfig, vars } from '../config/env.ts';
import { CLICKHOUSE_IDENTIFIER } from './clickhouse-sink.ts';
import { COMPRESSIONS } from './parquet-batch.ts';

const identifier = z.string().regex(CLICKHOUSE_IDENTIFIER, 'expected letters, digits and underscores');

export const exporterEnv = z.object({
  REDIS_URL: vars.redisUrl,
  REDIS_TELEMETRY_STREAM: vars.telemetryStream,
  /** Where the IO mappings are read, to add decoded attributes; without it the export has raw attributes only. */
  DATABASE_URL: vars.databaseUrl.optional(),
  /** The root of the Parquet files (`date=YYYY-MM-DD/part-<first id>_<last id>.parquet` below it). */
  EXPORT_DIR: z.string().min(1).default('data/export'),
  EXPORT_CONSUMER: z.string().regex(/^[\w.-]{1,100}$/, 'expected letters, digits, dot, dash or underscore').default(hostname()),
  /** Entries read from the stream at a time. */
  EXPORT_READ_COUNT: vars.positiveInt(5_000),
  /** A batch is written (one file per fix date) once it has this many rows... */
  EXPORT_FILE_ROWS: vars.positiveInt(50_000),
  /** ...or about this many bytes of row data... */
  EXPORT_FILE_BYTES: vars.positiveInt(128 * 1024 * 1024),
  /** ...or when its first entry was read this long ago. */
  EXPORT_FILE_MAX_AGE_MS: vars.durationMs(60_000),
  EXPORT_COMPRESSION: z.enum(COMPRESSIONS).default('zstd'),
  /** One exporter writes at a time; another waits, and takes over within this long of the first one's death. */
  EXPORT_LEASE_MS: vars.durationMs(10_000, 1000),
  /** How often device models and IO mappings are read again. */
  EXPORT_MAPPING_REFRESH_MS: vars.durationMs(10_000),
  /** /healthz answers 503 when entries wait and nothing was written for this long (rotation age included). */
  EXPORT_STALL_MS: vars.durationMs(300_000),
  /** Setting this turns the ClickHouse sink on: every batch is also inserted there, once. */
  CLICKHOUSE_URL: vars.url.optional(),
  CLICKHOUSE_DATABASE: identifier.default('pitwall'),
  CLICKHOUSE_TABLE: identifier.default('positions'),
  CLICKHOUSE_USER: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  METRICS_PORT: vars.port(9467),
  LOG_LEVEL: vars.logLevel,
});

export type ExporterConfig = z.infer<typeof exporterEnv>;

export const loadExporterConfig = (env: NodeJS.ProcessEnv = process.env): ExporterConfig => loadConfig(exporterEnv, env);
