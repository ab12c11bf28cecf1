import { createClient, type ClickHouseClient, type ErrorLogParams, type Logger as ClientLogger, type WarnLogParams } from '@clickhouse/client';
import type { Logger } from 'pino';
import type { ExportRow } from './export-row.ts';

/** Database and table names are spliced into SQL (ClickHouse cannot bind identifiers), so only these are accepted. */
export const CLICKHOUSE_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * How many recent inserts a table remembers by token. A batch retried after this many later inserts would be stored
 * again (and only the ReplacingMergeTree merge, or FINAL, would fold it): a retry loop never comes close.
 */
export const DEDUPLICATION_WINDOW = 10_000;

export interface ClickHouseSinkOptions {
  url: string;
  database: string;
  table: string;
  username?: string;
  password?: string;
  requestTimeoutMs?: number;
}

/** What the server can do, probed by feature rather than guessed from the version number. */
export interface ClickHouseFeatures {
  version: string;
  /** DateTime64 (ClickHouse 20.1+): ts keeps its microseconds. */
  dateTime64: boolean;
  /** insert_deduplication_token and non_replicated_deduplication_window (ClickHouse 22.2+). */
  insertTokens: boolean;
}

/**
 * How a retried batch is kept from counting twice:
 * - 'token': the insert carries the batch id as insert_deduplication_token and the table remembers recent tokens,
 *   so a retry of a batch already stored is dropped by the server, and a plain `count()` is exact.
 * - 'final': old servers (18.16) have no tokens, so a retry does store the rows again; the table is a
 *   ReplacingMergeTree whose sorting key ends in stream_id, so the copies fold into one row when parts merge.
 *   Readers must query with `FINAL` (or aggregate by stream_id) to see each row once before that merge.
 * Both kinds of table are ReplacingMergeTree, so a batch that comes back under another id still folds.
 */
export type Deduplication = 'token' | 'final';

/** Writes export batches into one ClickHouse table, each batch exactly once as readers of the table see it. */
export class ClickHouseSink {
  private constructor(
    private readonly client: ClickHouseClient,
    private readonly target: string,
    readonly features: ClickHouseFeatures,
    readonly deduplication: Deduplication,
    private readonly fractionalTs: boolean,
    private readonly log: Logger,
  ) {}

  /** Connects, probes the server, and creates the database and table if they are missing. */
  static async open(options: ClickHouseSinkOptions, log: Logger): Promise<ClickHouseSink> {
    const database = identifier('database', options.database);
    const table = identifier('table', options.table);
    const target = `${database}.${table}`;
    const client = createClient({
      url: options.url,
      username: options.username ?? 'default',
      password: options.password ?? '',
      request_timeout: options.requestTimeoutMs ?? 30_000,
      log: { LoggerClass: clientLogger(log) },
    });
    try {
      const features = await probe(client);
      await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
      await client.command({ query: createTableSql(target, features) });
      if (features.insertTokens) {
        // Set apart from CREATE so that a table made before the server was upgraded remembers tokens too.
        await client.command({ query: `ALTER TABLE ${target} MODIFY SETTING non_replicated_deduplication_window = ${DEDUPLICATION_WINDOW}` });
      }
      // The table may predate this server: its own ts type decides how ts is written.
      const fractionalTs = (await tsType(client, options.database, options.table)).startsWith('DateTime64');
      const deduplication: Deduplication = features.insertTokens ? 'token' : 'final';
      log.info({ version: features.version, table: target, deduplication, fractionalTs }, 'ClickHouse sink ready');
      return new ClickHouseSink(client, target, features, deduplication, fractionalTs, log);
    } catch (error) {
      await client.close();
      throw error;
    }
  }

  /**
   * Stores the batch in one INSERT. Throws when the server did not confirm it; the caller then retries the same rows
   * under the same batchId, which is what keeps the retry from counting twice (see Deduplication).
   * The batchId must name these rows and no others, also across restarts (derive it from their stream ids, never
   * from a counter): a server with tokens drops any insert whose token it remembers, whatever rows it carries.
   */
  async insert(batchId: string, rows: readonly ExportRow[]): Promise<void> {
    if (!batchId) throw new Error('ClickHouseSink.insert needs a batch id');
    if (rows.length === 0) return;
    const started = performance.now();
    await this.client.insert({
      table: this.target,
      format: 'JSONEachRow',
      values: rows.map((row) => toRecord(row, this.fractionalTs)),
      ...(this.deduplication === 'token' ? { clickhouse_settings: { insert_deduplication_token: batchId } } : {}),
    });
    this.log.debug({ batchId, rows: rows.length, ms: Math.round(performance.now() - started) }, 'batch stored in ClickHouse');
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/**
 * The table's DDL: the same columns and key everywhere, ts as precise as the server allows. The numbers hold every
 * value the export accepts (satellites up to 32767, any finite altitude or speed), as the Parquet files do. A stream id fixes its
 * device and ts, so the key folds exactly the copies of one entry (always in one month's partition, where
 * ReplacingMergeTree folds), while device and time lead it for the queries analysts run.
 */
export function createTableSql(target: string, features: Pick<ClickHouseFeatures, 'dateTime64'>): string {
  return `CREATE TABLE IF NOT EXISTS ${target} (
  stream_id String,
  device_id String,
  ts ${features.dateTime64 ? "DateTime64(6, 'UTC')" : "DateTime('UTC')"},
  ts_us Int64,
  latitude Float64,
  longitude Float64,
  altitude Float64,
  speed Float64,
  heading Float64,
  satellites UInt16,
  priority UInt8,
  codec String,
  attributes String,
  decoded Nullable(String),
  mapping_version Nullable(String)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (device_id, ts, stream_id)`;
}

/** One row as JSONEachRow: ts as UTC text (microseconds where the column keeps them), ts_us exact. */
export function toRecord(row: ExportRow, fractionalTs: boolean): Record<string, unknown> {
  const tsUs = Math.round(row.ts * 1000);
  return {
    stream_id: row.streamId,
    device_id: row.deviceId,
    ts: utcText(tsUs, fractionalTs),
    ts_us: tsUs,
    latitude: row.latitude,
    longitude: row.longitude,
    altitude: row.altitude,
    speed: row.speed,
    heading: row.heading,
    satellites: row.satellites,
    priority: row.priority,
    codec: row.codec,
    attributes: row.attributes,
    decoded: row.decoded,
    mapping_version: row.mappingVersion,
  };
}

/** `YYYY-MM-DD hh:mm:ss[.ffffff]` in UTC: the text both DateTime('UTC') and DateTime64(6, 'UTC') parse. */
function utcText(us: number, fractional: boolean): string {
  const seconds = Math.floor(us / 1_000_000);
  const text = new Date(seconds * 1000).toISOString().slice(0, 19).replace('T', ' ');
  return fractional ? `${text}.${String(us - seconds * 1_000_000).padStart(6, '0')}` : text;
}

function identifier(what: string, name: string): string {
  if (!CLICKHOUSE_IDENTIFIER.test(name)) throw new Error(`ClickHouse ${what} name ${JSON.stringify(name)} must be letters, digits and underscores, not starting with a digit`);
  return `\`${name}\``;
}

/** The client's log lines in ours. Its request errors also reject to the caller, who decides how loud they are. */
function clientLogger(log: Logger): new () => ClientLogger {
  const child = log.child({ module: 'clickhouse-client' });
  return class {
    trace() {}
    debug() {}
    info() {}
    warn({ message, args, err }: WarnLogParams) {
      child.warn({ ...args, err }, message);
    }
    error({ message, args, err }: ErrorLogParams) {
      child.debug({ ...args, err }, message);
    }
  };
}

async function probe(client: ClickHouseClient): Promise<ClickHouseFeatures> {
  const result = await client.query({
    query: `SELECT version() AS version,
      (SELECT count() FROM system.data_type_families WHERE name = 'DateTime64') AS datetime64,
      (SELECT count() FROM system.settings WHERE name = 'insert_deduplication_token') AS token_setting,
      (SELECT count() FROM system.merge_tree_settings WHERE name = 'non_replicated_deduplication_window') AS window_setting`,
    format: 'JSONEachRow',
  });
  const [row] = await result.json<{ version: string; datetime64: string; token_setting: string; window_setting: string }>();
  if (!row) throw new Error('ClickHouse answered the feature probe with no row');
  return {
    version: row.version,
    dateTime64: Number(row.datetime64) > 0,
    insertTokens: Number(row.token_setting) > 0 && Number(row.window_setting) > 0,
  };
}

async function tsType(client: ClickHouseClient, database: string, table: string): Promise<string> {
  const result = await client.query({
    // Inlined, not bound: 18.16 has no query parameters, and both names passed CLICKHOUSE_IDENTIFIER.
    query: `SELECT type FROM system.columns WHERE database = '${database}' AND table = '${table}' AND name = 'ts'`,
    format: 'JSONEachRow',
  });
  const [row] = await result.json<{ type: string }>();
  if (!row) throw new Error(`ClickHouse table ${database}.${table} has no ts column`);
  return row.type;
}
