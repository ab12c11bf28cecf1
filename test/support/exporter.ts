import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { inject } from 'vitest';
import { repoRoot } from '../../src/devstack/directus-process.ts';
import { freePort, REDIS_URL } from './stack.ts';

/** Short enough that a standby takes over within the tests' patience, long enough for a 2-core machine. */
export const EXPORTER_LEASE_MS = 2000;

/** A `pitwall exporter` process, killable for real, with the address of its /metrics and /healthz. */
export type ExporterProcess = ChildProcess & { metricsUrl: string };

/**
 * Starts `pitwall exporter` on a stream and an export directory, rotating small batches quickly so that kills land
 * between and inside batches; `extra` overrides any variable (CLICKHOUSE_URL turns the ClickHouse sink on).
 */
export async function startExporter(stream: string, dir: string, consumer: string, extra: Record<string, string> = {}): Promise<ExporterProcess> {
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: inject('stack').processorDatabaseUrl,
    REDIS_URL,
    REDIS_TELEMETRY_STREAM: stream,
    EXPORT_DIR: dir,
    EXPORT_CONSUMER: consumer,
    EXPORT_READ_COUNT: '300',
    EXPORT_FILE_ROWS: '200',
    EXPORT_FILE_MAX_AGE_MS: '300',
    EXPORT_LEASE_MS: String(EXPORTER_LEASE_MS),
    METRICS_PORT: String(await freePort()),
    LOG_LEVEL: 'error',
    ...extra,
  };
  const child = spawn(join(repoRoot, 'bin/pitwall'), ['exporter'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  return Object.assign(child, { metricsUrl: `http://127.0.0.1:${env.METRICS_PORT}` });
}
