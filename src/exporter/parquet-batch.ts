import { DuckDBInstance, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import type { ExportEntry, ExportRow } from './export-row.ts';

export const COMPRESSIONS = ['zstd', 'snappy', 'gzip', 'uncompressed'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/**
 * The batch with the typed columns of each row read from its payload JSON (parsed once per row by json_transform, in
 * C++ on DuckDB's threads: doing it in JavaScript cost the exporter a third of its speed).
 */
const PARSED = (where: string) => `
  WITH parsed AS (
    SELECT stream_id, device_id, ts_ms, codec, decoded_attributes, mapping_version,
      json_transform(payload, '{"latitude":"DOUBLE","longitude":"DOUBLE","altitude":"DOUBLE","speed":"DOUBLE","angle":"DOUBLE",
        "satellites":"SMALLINT","priority":"UTINYINT","attributes":"JSON"}') AS p
    FROM batch ${where}
  )`;

/** The columns of the files; `ts` is microseconds in UTC. */
const FILE_ROWS = (where: string) => `${PARSED(where)}
  SELECT stream_id, device_id, make_timestamptz(CAST(ts_ms AS BIGINT) * 1000) AS ts, p.latitude, p.longitude,
    p.altitude, p.speed, p.angle AS heading, p.satellites, p.priority, codec, p.attributes, decoded_attributes,
    mapping_version
  FROM parsed`;

/**
 * The entries of the batch being gathered, held in an in-memory DuckDB table (outside the JavaScript heap) and written
 * out by DuckDB's own Parquet writer, one file per fix date. DuckDB was picked by measuring: its appender and writer
 * took 200,000 rows at about 83,000 rows/s each with zstd, where hyparquet-writer (pure JavaScript) wrote 7 of the 14
 * columns at 21,000 rows/s (docs/performance.md).
 *
 * Rows are written in stream order (about arrival order, so mostly by time: a filter on `ts` skips row groups), not
 * sorted by device: sorting halved the writer's speed. The attribute columns are typed JSON; DuckDB takes the
 * decoder's text without parsing it again.
 */
export class ParquetBatch {
  private count = 0;
  private size = 0;
  private readonly dates = new Set<string>();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly compression: Compression,
    private appender: DuckDBAppender,
  ) {}

  static async open(compression: Compression, threads = 2): Promise<ParquetBatch> {
    const instance = await DuckDBInstance.create(':memory:', { threads: String(threads) });
    const connection = await instance.connect();
    return new ParquetBatch(instance, connection, compression, await newBatchTable(connection));
  }

  /** Entries gathered so far. */
  get rows(): number {
    return this.count;
  }

  /** About how many bytes the gathered entries take, for rotating by size. */
  get bytes(): number {
    return this.size;
  }

  /** The fix dates of the gathered entries: one file each. */
  get partitionDates(): string[] {
    return [...this.dates].sort();
  }

  add(entry: ExportEntry, date: string): void {
    const a = this.appender;
    a.appendVarchar(entry.streamId);
    a.appendVarchar(entry.deviceId);
    a.appendDouble(entry.ts);
    a.appendVarchar(entry.codec);
    a.appendVarchar(entry.payload);
    if (entry.decoded === null) a.appendNull();
    else a.appendVarchar(entry.decoded);
    if (entry.mappingVersion === null) a.appendNull();
    else a.appendVarchar(entry.mappingVersion);
    a.appendVarchar(date);
    a.endRow();
    this.count += 1;
    this.size += 48 + entry.streamId.length + entry.deviceId.length + entry.payload.length + (entry.decoded?.length ?? 0);
    this.dates.add(date);
  }

  /** Writes the rows of one date to `path` as Parquet. Returns how many rows were written. */
  async write(date: string, path: string): Promise<number> {
    this.appender.flushSync();
    const reader = await this.connection.runAndReadAll(
      `COPY (${FILE_ROWS('WHERE date = $date')}) TO ${sqlText(path)} (FORMAT parquet, COMPRESSION ${this.compression})`,
      { date },
    );
    return Number(reader.getRowsJS()[0]?.[0] ?? 0);
  }

  /** Every row of the batch, as the files have them (for the ClickHouse sink). */
  async exportRows(): Promise<ExportRow[]> {
    this.appender.flushSync();
    const reader = await this.connection.runAndReadAll(
      `${PARSED('')}
       SELECT stream_id AS "streamId", device_id AS "deviceId", ts_ms AS ts, p.latitude, p.longitude, p.altitude,
         p.speed, p.angle AS heading, p.satellites, p.priority, codec, CAST(p.attributes AS VARCHAR) AS attributes,
         CAST(decoded_attributes AS VARCHAR) AS decoded, mapping_version AS "mappingVersion"
       FROM parsed`,
    );
    return reader.getRowObjectsJS() as unknown as ExportRow[];
  }

  /** Empties the batch for the next one. */
  async clear(): Promise<void> {
    this.appender.closeSync();
    this.appender = await newBatchTable(this.connection);
    this.count = 0;
    this.size = 0;
    this.dates.clear();
  }

  close(): void {
    this.appender.closeSync();
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

/**
 * A new, empty batch table and its appender. The table is dropped and made again for every batch rather than
 * truncated: DuckDB keeps a truncated table's storage, and moving the next batch's rows into it took two to four times
 * as long (4.5-13 against 1.7-3.2 µs a row, measured in docs/performance.md) and grew the process by each batch.
 */
async function newBatchTable(connection: DuckDBConnection): Promise<DuckDBAppender> {
  // Times are kept as epoch ms (exact in a DOUBLE) and become TIMESTAMPTZ only when written.
  await connection.run(`
    DROP TABLE IF EXISTS batch;
    CREATE TABLE batch (stream_id VARCHAR, device_id VARCHAR, ts_ms DOUBLE, codec VARCHAR, payload VARCHAR,
      decoded_attributes JSON, mapping_version VARCHAR, date VARCHAR)`);
  return connection.createAppender('batch');
}

/** A SQL string literal (COPY takes its path as a literal, not as a parameter). */
const sqlText = (text: string): string => `'${text.replaceAll("'", "''")}'`;
