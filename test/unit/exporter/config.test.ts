import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/env.ts';
import { loadExporterConfig } from '../../../src/exporter/config.ts';

function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadExporterConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe('exporter configuration', () => {
  it('needs nothing: Parquet files only, with the documented defaults', () => {
    expect(loadExporterConfig({})).toEqual({
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_TELEMETRY_STREAM: 'telemetry:teltonika',
      EXPORT_DIR: 'data/export',
      EXPORT_CONSUMER: hostname(),
      EXPORT_READ_COUNT: 5000,
      EXPORT_FILE_ROWS: 50_000,
      EXPORT_FILE_BYTES: 128 * 1024 * 1024,
      EXPORT_FILE_MAX_AGE_MS: 60_000,
      EXPORT_COMPRESSION: 'zstd',
      EXPORT_LEASE_MS: 10_000,
      EXPORT_MAPPING_REFRESH_MS: 10_000,
      EXPORT_STALL_MS: 300_000,
      CLICKHOUSE_DATABASE: 'pitwall',
      CLICKHOUSE_TABLE: 'positions',
      CLICKHOUSE_USER: 'default',
      CLICKHOUSE_PASSWORD: '',
      METRICS_PORT: 9467,
      LOG_LEVEL: 'info',
    });
  });

  it('leaves decoding and ClickHouse off unless their variables are set, an empty value counting as unset', () => {
    const config = loadExporterConfig({ DATABASE_URL: '', CLICKHOUSE_URL: '', EXPORT_COMPRESSION: '' });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.CLICKHOUSE_URL).toBeUndefined();
    expect(config.EXPORT_COMPRESSION).toBe('zstd');
  });

  it('reads every setting given', () => {
    const config = loadExporterConfig({
      DATABASE_URL: 'postgres://exporter@db:5432/pitwall',
      REDIS_TELEMETRY_STREAM: 'race:telemetry',
      EXPORT_DIR: '/srv/export',
      EXPORT_CONSUMER: 'export-a.eu-1',
      EXPORT_READ_COUNT: '300',
      EXPORT_COMPRESSION: 'snappy',
      EXPORT_LEASE_MS: '1000',
      CLICKHOUSE_URL: 'https://clickhouse.example:8443',
      CLICKHOUSE_DATABASE: 'analytics',
      CLICKHOUSE_TABLE: 'positions_2026',
      CLICKHOUSE_USER: 'exporter',
      CLICKHOUSE_PASSWORD: 'p@ss word',
      METRICS_PORT: '9999',
    });
    expect(config).toMatchObject({
      DATABASE_URL: 'postgres://exporter@db:5432/pitwall',
      REDIS_TELEMETRY_STREAM: 'race:telemetry',
      EXPORT_DIR: '/srv/export',
      EXPORT_CONSUMER: 'export-a.eu-1',
      EXPORT_READ_COUNT: 300,
      EXPORT_COMPRESSION: 'snappy',
      EXPORT_LEASE_MS: 1000,
      CLICKHOUSE_URL: 'https://clickhouse.example:8443',
      CLICKHOUSE_DATABASE: 'analytics',
      CLICKHOUSE_TABLE: 'positions_2026',
      CLICKHOUSE_USER: 'exporter',
      CLICKHOUSE_PASSWORD: 'p@ss word',
      METRICS_PORT: 9999,
    });
  });

  it.each(['zstd', 'snappy', 'gzip', 'uncompressed'])('takes EXPORT_COMPRESSION=%s', (compression) => {
    expect(loadExporterConfig({ EXPORT_COMPRESSION: compression }).EXPORT_COMPRESSION).toBe(compression);
  });

  it.each(['lz4', 'ZSTD', 'none', 'zstd '])('refuses EXPORT_COMPRESSION=%j, naming the variable', (compression) => {
    const error = configError({ EXPORT_COMPRESSION: compression });
    expect(error.variable).toBe('EXPORT_COMPRESSION');
    expect(error.message).toMatch(/^EXPORT_COMPRESSION: invalid value/);
  });

  it.each([
    'positions; DROP TABLE pitwall.positions',
    'positions`; DROP TABLE x; --',
    "positions' OR '1'='1",
    'pitwall.positions',
    'positions-2026',
    '2026_positions',
    'positions ',
    'позиции',
    'p'.repeat(64),
  ])('refuses CLICKHOUSE_TABLE=%j before any SQL is sent', (table) => {
    const error = configError({ CLICKHOUSE_URL: 'http://127.0.0.1:8123', CLICKHOUSE_TABLE: table });
    expect(error.variable).toBe('CLICKHOUSE_TABLE');
    expect(error.message).toMatch(/^CLICKHOUSE_TABLE: invalid value \(expected letters, digits and underscores\)/);
  });

  it('refuses a CLICKHOUSE_DATABASE that is not a plain identifier, naming it', () => {
    expect(configError({ CLICKHOUSE_DATABASE: 'pitwall; DROP DATABASE x' }).variable).toBe('CLICKHOUSE_DATABASE');
  });

  it('takes identifiers up to 63 characters, with underscores and digits', () => {
    expect(loadExporterConfig({ CLICKHOUSE_TABLE: `_${'p'.repeat(61)}9` }).CLICKHOUSE_TABLE).toHaveLength(63);
  });

  it.each(['999', '0', '-10000', '1500.5', '10s', 'ten'])('refuses EXPORT_LEASE_MS=%j, naming the variable', (lease) => {
    const error = configError({ EXPORT_LEASE_MS: lease });
    expect(error.variable).toBe('EXPORT_LEASE_MS');
    expect(error.message).toMatch(/^EXPORT_LEASE_MS: invalid value/);
  });

  it('takes a lease of one second, the shortest', () => {
    expect(loadExporterConfig({ EXPORT_LEASE_MS: '1000' }).EXPORT_LEASE_MS).toBe(1000);
  });

  it.each<[string, NodeJS.ProcessEnv]>([
    ['CLICKHOUSE_URL', { CLICKHOUSE_URL: 'tcp://127.0.0.1:9000' }],
    ['CLICKHOUSE_URL', { CLICKHOUSE_URL: '127.0.0.1:8123' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://db/pitwall' }],
    ['EXPORT_CONSUMER', { EXPORT_CONSUMER: 'export a' }],
    ['EXPORT_READ_COUNT', { EXPORT_READ_COUNT: '0' }],
    ['EXPORT_FILE_ROWS', { EXPORT_FILE_ROWS: '-1' }],
    ['EXPORT_FILE_MAX_AGE_MS', { EXPORT_FILE_MAX_AGE_MS: '1 min' }],
    ['METRICS_PORT', { METRICS_PORT: '70000' }],
  ])('refuses a bad %s, naming it', (variable, env) => {
    expect(configError(env).variable).toBe(variable);
  });

  it.each(['EXPORT_MAPPING_REFRESH_MS', 'EXPORT_LEASE_MS', 'EXPORT_FILE_MAX_AGE_MS', 'EXPORT_STALL_MS'])('refuses a %s longer than a Node timer holds, which would fire every millisecond', (variable) => {
    const error = configError({ [variable]: '2147483648' });
    expect(error.variable).toBe(variable);
    expect(error.message).toMatch(/at most 2147483647 ms/);
    expect(loadExporterConfig({ [variable]: '2147483647' })[variable as 'EXPORT_STALL_MS']).toBe(2_147_483_647);
  });

  it('reports every bad variable at once', () => {
    expect(() => loadExporterConfig({ EXPORT_COMPRESSION: 'lz4', CLICKHOUSE_TABLE: 'a;b', EXPORT_LEASE_MS: '5' })).toThrow(
      /EXPORT_COMPRESSION: invalid value.*EXPORT_LEASE_MS: invalid value.*CLICKHOUSE_TABLE: invalid value/,
    );
  });
});
