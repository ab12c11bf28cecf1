import { DuckDBInstance, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import type { ExportRow } from './export-row.ts';

export const COMPRESSIONS = ['zstd', 'snappy', 'gzip', 'uncompressed'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/**
 * The rows of the batch being gathered, held in an in-memory DuckDB table (columnar, outside the JavaScript heap) and
 * written out by DuckDB's own Parquet writer, one file per fix date. DuckDB was picked by measuring: its appender and
 * writer took 200,000 rows at about 83,000 rows/s each with zstd, where hyparquet-writer (pure JavaScript) wrote 7 of
 * the 14 columns at 21,000 rows/s (docs/performance.md).
 */
export class ParquetBatch {
  private appender: DuckDBAppender | null = null;
  private count = 0;
  private size = 0;
  private readonly dates = new Set<string>();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly compression: Compression,
  ) {}

  static async open(compression: Compression, threads = 2): Promise<ParquetBatch> {
    const instance = await DuckDBInstance.create(':memory:', { threads: String(threads) });
    const connection = await instance.connect();
    // Times are kept as epoch ms (exact in a DOUBLE) and become TIMESTAMPTZ only when written, in UTC.
    await connection.run(`
      CREATE TABLE batch (
        stream_id VARCHAR, device_id VARCHAR, ts_ms DOUBLE, latitude DOUBLE, longitude DOUBLE, altitude FLOAT,
        speed FLOAT, heading FLOAT, satellites SMALLINT, priority UTINYINT, codec VARCHAR, attributes VARCHAR,
        decoded_attributes VARCHAR, mapping_version VARCHAR, date VARCHAR)`);
    return new ParquetBatch(instance, connection, compression);
  }

  /** Rows gathered so far. */
  get rows(): number {
    return this.count;
  }

  /** About how many bytes the gathered rows take (their text and numbers), for rotating by size. */
  get bytes(): number {
    return this.size;
  }

  /** The fix dates of the gathered rows: one file each. */
  get partitionDates(): string[] {
    return [...this.dates].sort();
  }

  async add(row: ExportRow, date: string): Promise<void> {
    this.appender ??= await this.connection.createAppender('batch');
    const a = this.appender;
    a.appendVarchar(row.streamId);
    a.appendVarchar(row.deviceId);
    a.appendDouble(row.ts);
    a.appendDouble(row.latitude);
    a.appendDouble(row.longitude);
    a.appendFloat(row.altitude);
    a.appendFloat(row.speed);
    a.appendFloat(row.heading);
    a.appendSmallInt(row.satellites);
    a.appendUTinyInt(row.priority);
    a.appendVarchar(row.codec);
    a.appendVarchar(row.attributes);
    if (row.decoded === null) a.appendNull();
    else a.appendVarchar(row.decoded);
    if (row.mappingVersion === null) a.appendNull();
    else a.appendVarchar(row.mappingVersion);
    a.appendVarchar(date);
    a.endRow();
    this.count += 1;
    this.size += 64 + row.streamId.length + row.deviceId.length + row.attributes.length + (row.decoded?.length ?? 0);
    this.dates.add(date);
  }

  /**
   * Writes the rows of one date to `path` as Parquet, sorted by device and time (what analysts filter on), with the
   * time as microseconds in UTC and the attribute columns typed JSON. Returns how many rows were written.
   */
  async write(date: string, path: string): Promise<number> {
    this.closeAppender();
    const reader = await this.connection.runAndReadAll(
      `COPY (
        SELECT stream_id, device_id, make_timestamptz(CAST(ts_ms AS BIGINT) * 1000) AS ts, latitude, longitude,
          altitude, speed, heading, satellites, priority, codec, CAST(attributes AS JSON) AS attributes,
          CAST(decoded_attributes AS JSON) AS decoded_attributes, mapping_version
        FROM batch WHERE date = $date ORDER BY device_id, ts_ms, stream_id
      ) TO ${sqlText(path)} (FORMAT parquet, COMPRESSION ${this.compression})`,
      { date },
    );
    return Number(reader.getRowsJS()[0]?.[0] ?? 0);
  }

  /** Empties the batch for the next one. */
  async clear(): Promise<void> {
    this.closeAppender();
    await this.connection.run('DELETE FROM batch');
    this.count = 0;
    this.size = 0;
    this.dates.clear();
  }

  close(): void {
    this.closeAppender();
    this.connection.closeSync();
    this.instance.closeSync();
  }

  private closeAppender(): void {
    this.appender?.closeSync();
    this.appender = null;
  }
}

/** A SQL string literal (COPY takes its path as a literal, not as a parameter). */
const sqlText = (text: string): string => `'${text.replaceAll("'", "''")}'`;
