import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { probe, serveMetrics, type HealthReport } from '../observability/metrics-server.ts';
import { connectDb } from '../store/db.ts';
import { ensureGroup, groupInfo } from '../stream/consumer-group.ts';
import { Lease } from '../stream/lease.ts';
import { toStreamEntries, type StreamEntry } from '../stream/stream-entry.ts';
import type { ClickHouseSink } from './clickhouse-sink.ts';
import type { ExporterConfig } from './config.ts';
import { DeviceDecoders } from './device-decoders.ts';
import { readExportRow, type ExportRow } from './export-row.ts';
import { ParquetBatch } from './parquet-batch.ts';
import { PartDirectory } from './part-directory.ts';
import { fixDate, rangeKey, type IdRange, type WrittenBatches } from './part-files.ts';

/** The exporter's consumer group on the telemetry stream (CONTRACTS section 1). */
export const EXPORT_GROUP = 'analytics-export';
const ACK_CHUNK = 10_000;

/** The entries of the batch being gathered: all of them are acknowledged together once its files are written. */
interface Gathered {
  ids: string[];
  /** Kept for the ClickHouse sink only (null without it): the Parquet side holds its rows in DuckDB. */
  rows: ExportRow[] | null;
  startedAt: number;
}

class LeaseLost extends Error {
  override name = 'LeaseLost';
}

/**
 * The analytics export consumer: reads the telemetry stream in its own consumer group and writes each batch of
 * entries as Parquet files (and, when configured, into ClickHouse) exactly once.
 *
 * Exactly once, across crashes: a batch's files are named by the first and last stream ids of the batch, written under
 * a temporary name, flushed and renamed; only then is the batch inserted into ClickHouse (deduplicated by the same
 * name) and acknowledged. After a crash the unacknowledged entries come back from the group's pending list: those
 * inside a batch that already has files only get the files it lacks (and the same ClickHouse insert, which the sink
 * deduplicates); the others form a new batch. One exporter writes at a time, under a lease in Redis; a second one
 * waits and takes over the first one's pending entries when its lease runs out.
 */
export class Exporter {
  readonly registry = new Registry();
  private readonly redis: Redis;
  private readonly db: Knex | null;
  private readonly decoders: DeviceDecoders | null;
  private readonly lease: Lease;
  private readonly directory: PartDirectory;
  private readonly metrics;
  private batch: ParquetBatch | null = null;
  private sink: ClickHouseSink | null = null;
  private gathered: Gathered = { ids: [], rows: null, startedAt: 0 };
  private server: Server | null = null;
  private running: Promise<void> | null = null;
  private closing = false;
  private active = false;
  private timers: NodeJS.Timeout[] = [];
  /** When a batch was last written (or the stream found empty): health compares it with the entries waiting. */
  private progressAt = Date.now();
  private sinkFailingSince: number | null = null;

  constructor(
    private readonly config: ExporterConfig,
    private readonly log: Logger,
    /** Opens the ClickHouse sink (tests pass their own server's); by default from CLICKHOUSE_* settings. */
    private readonly openSink: (() => Promise<ClickHouseSink>) | null = config.CLICKHOUSE_URL ? () => openConfiguredSink(config, log) : null,
  ) {
    this.redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: true });
    this.redis.on('error', (error) => log.warn({ err: error }, 'redis connection error'));
    this.db = config.DATABASE_URL ? connectDb(config.DATABASE_URL, { pool: 2, application: 'pitwall-exporter', log }) : null;
    this.decoders = this.db ? new DeviceDecoders(this.db) : null;
    this.lease = new Lease(this.redis, `pitwall:{${config.REDIS_TELEMETRY_STREAM}}:exporter`, `${config.EXPORT_CONSUMER}:${randomUUID()}`, config.EXPORT_LEASE_MS);
    this.directory = new PartDirectory(config.EXPORT_DIR);
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    const self = this;
    this.metrics = {
      active: new Gauge({ name: 'pitwall_export_active', help: '1 while this exporter holds the lease and writes, 0 while it waits', registers, collect() { this.set(self.active ? 1 : 0); } }),
      rows: new Counter({ name: 'pitwall_export_rows_total', help: 'Rows written to Parquet files', registers }),
      files: new Counter({ name: 'pitwall_export_files_total', help: 'Parquet files written', registers }),
      fileBytes: new Counter({ name: 'pitwall_export_file_bytes_total', help: 'Bytes of Parquet files written', registers }),
      skipped: new Counter({ name: 'pitwall_export_skipped_entries_total', help: 'Stream entries without a row (malformed; the log says why)', registers }),
      batchRows: new Gauge({ name: 'pitwall_export_batch_rows', help: 'Rows gathered and not yet written', registers, collect() { this.set(self.batch?.rows ?? 0); } }),
      flushSeconds: new Histogram({ name: 'pitwall_export_flush_seconds', help: 'Time to write a batch: files, ClickHouse, acknowledgement', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers }),
      lag: new Gauge({ name: 'pitwall_export_stream_lag_entries', help: `Entries of the stream the ${EXPORT_GROUP} group has not read yet`, registers }),
      pending: new Gauge({ name: 'pitwall_export_pending_entries', help: 'Entries read and not yet acknowledged (in the batch being gathered or written)', registers }),
      clickhouseRows: new Counter({ name: 'pitwall_export_clickhouse_rows_total', help: 'Rows inserted into ClickHouse', registers }),
      clickhouseErrors: new Counter({ name: 'pitwall_export_clickhouse_errors_total', help: 'ClickHouse inserts that failed (the batch is retried)', registers }),
    };
  }

  async start(): Promise<void> {
    const { REDIS_TELEMETRY_STREAM: stream, EXPORT_DIR, METRICS_PORT } = this.config;
    this.log.info({ stream, group: EXPORT_GROUP, consumer: this.config.EXPORT_CONSUMER, dir: EXPORT_DIR, clickhouse: this.openSink !== null }, 'exporter starting');
    this.server = await serveMetrics(this.registry, METRICS_PORT, () => this.health());
    this.batch = await ParquetBatch.open(this.config.EXPORT_COMPRESSION);
    await this.redis.connect().catch((error: unknown) => this.log.warn({ err: error }, 'redis not reachable yet; retrying'));
    if (this.decoders) {
      await this.refreshDecoders();
      this.timers.push(setInterval(() => void this.refreshDecoders(), this.config.EXPORT_MAPPING_REFRESH_MS));
    }
    this.timers.push(setInterval(() => void this.renewLease(), Math.max(200, Math.floor(this.config.EXPORT_LEASE_MS / 3))));
    this.running = this.run();
  }

  private async refreshDecoders(): Promise<void> {
    try {
      await this.decoders!.refresh();
    } catch (error) {
      this.log.warn({ err: error }, 'device models and IO mappings not read; decoded attributes wait for them');
    }
  }

  private async renewLease(): Promise<void> {
    if (!this.active) return;
    try {
      if (!(await this.lease.renew())) {
        this.active = false;
        this.log.error('exporter lease lost (another exporter took over); dropping the batch in hand, it stays pending');
      }
    } catch (error) {
      this.log.warn({ err: error }, 'exporter lease not renewed');
    }
  }

  private async run(): Promise<void> {
    let backoff = 100;
    while (!this.closing) {
      try {
        if (!this.active && !(await this.takeOver())) {
          await sleep(Math.max(200, Math.floor(this.config.EXPORT_LEASE_MS / 3)));
          continue;
        }
        await this.consume();
        backoff = 100;
      } catch (error) {
        // Whatever failed, the entries in hand are still pending: start again from the pending list and the files.
        await this.batch!.clear();
        this.gathered = { ids: [], rows: null, startedAt: 0 };
        if (error instanceof LeaseLost) this.active = false;
        else this.log.error({ err: error }, 'export batch not written; its entries stay pending and are retried');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  /** Takes the lease if it is free, and with it the pending entries of every earlier exporter. */
  private async takeOver(): Promise<boolean> {
    const stream = this.config.REDIS_TELEMETRY_STREAM;
    await ensureGroup(this.redis, stream, EXPORT_GROUP, '0');
    if (!(await this.lease.acquire())) return false;
    this.active = true;
    const claimed = await this.claimAllPending();
    this.log.info({ claimed }, 'exporter active');
    return true;
  }

  /** Moves every pending entry of the group to this consumer: only the lease holder writes, so the others are gone. */
  private async claimAllPending(): Promise<number> {
    const { REDIS_TELEMETRY_STREAM: stream, EXPORT_CONSUMER: consumer } = this.config;
    let cursor = '0-0';
    let claimed = 0;
    do {
      const reply = (await this.redis.xautoclaim(stream, EXPORT_GROUP, consumer, 0, cursor, 'COUNT', 1000, 'JUSTID')) as [string, string[]];
      cursor = reply[0];
      claimed += reply[1].length;
    } while (cursor !== '0-0');
    return claimed;
  }

  /** Writes batch after batch while this exporter holds the lease. */
  private async consume(): Promise<void> {
    const { written } = await this.recover();
    // The pending list first: entries of a batch that has files complete it, the others start a new batch.
    const completions = new Map<string, { range: IdRange; entries: StreamEntry[] }>();
    for (let after = '0'; ; ) {
      const entries = await this.read(after, false);
      if (entries.length === 0) break;
      after = entries.at(-1)!.id;
      for (const entry of entries) {
        const range = written.batchOf(entry.id);
        if (range === null) await this.gather(entry);
        else {
          const key = rangeKey(range);
          const completion = completions.get(key) ?? { range, entries: [] };
          completion.entries.push(entry);
          completions.set(key, completion);
        }
      }
    }
    for (const { range, entries } of completions.values()) await this.complete(range, entries, written);
    while (!this.closing) {
      this.checkLease();
      const entries = await this.read('>', true);
      for (const entry of entries) await this.gather(entry);
      if (entries.length === 0 && this.gathered.ids.length === 0) this.progressAt = Date.now();
      if (this.isDue()) await this.flush();
    }
    if (this.gathered.ids.length > 0) await this.flush();
  }

  private async recover(): Promise<{ written: WrittenBatches }> {
    const { written, removed } = await this.directory.recover();
    if (removed > 0) this.log.warn({ removed }, 'removed temporary files of a batch cut short');
    return { written };
  }

  private checkLease(): void {
    if (!this.active) throw new LeaseLost('exporter lease lost');
  }

  /** Asks Redis, not the last renewal, before a file becomes visible: a takeover during a long write must stop it. */
  private async confirmLease(): Promise<void> {
    this.checkLease();
    if (!(await this.lease.renew())) {
      this.active = false;
      throw new LeaseLost('exporter lease lost');
    }
  }

  private async gather(entry: StreamEntry): Promise<void> {
    const read = readExportRow(entry.id, entry.fields, this.decoders?.decode ?? noDecoding);
    if (this.gathered.ids.length === 0) this.gathered = { ids: [], rows: this.openSink ? [] : null, startedAt: Date.now() };
    this.gathered.ids.push(entry.id);
    if (!read.ok) {
      this.metrics.skipped.inc();
      this.log.warn({ id: entry.id, reason: read.reason }, 'stream entry not exported');
      return;
    }
    await this.batch!.add(read.row, fixDate(read.row.ts));
    this.gathered.rows?.push(read.row);
  }

  private isDue(): boolean {
    const { EXPORT_FILE_ROWS, EXPORT_FILE_BYTES, EXPORT_FILE_MAX_AGE_MS } = this.config;
    if (this.gathered.ids.length === 0) return false;
    return this.batch!.rows >= EXPORT_FILE_ROWS || this.batch!.bytes >= EXPORT_FILE_BYTES || Date.now() - this.gathered.startedAt >= EXPORT_FILE_MAX_AGE_MS;
  }

  /** Writes the batch gathered: its files, then ClickHouse, then the acknowledgement. */
  private async flush(): Promise<void> {
    const { ids, rows } = this.gathered;
    const range = { first: ids[0]!, last: ids.at(-1)! };
    const done = this.metrics.flushSeconds.startTimer();
    await this.writeFiles(range, this.batch!, null);
    if (rows) await this.insertIntoClickHouse(range, rows);
    await this.acknowledge(ids);
    await this.batch!.clear();
    this.gathered = { ids: [], rows: null, startedAt: 0 };
    done();
  }

  /**
   * Finishes a batch a crash cut short: its entries came back from the pending list, and the files it lacks are
   * written from them (the ones it has stay as they are).
   */
  private async complete(range: IdRange, entries: StreamEntry[], written: WrittenBatches): Promise<void> {
    const batch = await ParquetBatch.open(this.config.EXPORT_COMPRESSION, 1);
    try {
      const rows: ExportRow[] = [];
      for (const entry of entries) {
        const read = readExportRow(entry.id, entry.fields, this.decoders?.decode ?? noDecoding);
        if (!read.ok) continue;
        await batch.add(read.row, fixDate(read.row.ts));
        rows.push(read.row);
      }
      const wrote = await this.writeFiles(range, batch, written);
      this.log.warn({ range, entries: entries.length, filesWritten: wrote }, 'completed a batch cut short by a crash');
      if (this.openSink) await this.insertIntoClickHouse(range, rows);
      await this.acknowledge(entries.map((e) => e.id));
    } finally {
      batch.close();
    }
  }

  /** One file per fix date, skipping the dates that already have theirs. Returns how many were written. */
  private async writeFiles(range: IdRange, batch: ParquetBatch, written: WrittenBatches | null): Promise<number> {
    let files = 0;
    for (const date of batch.partitionDates) {
      if (written?.has(range, date)) continue;
      const temporary = await this.directory.temporaryPath(range, date);
      const rows = await batch.write(date, temporary);
      await this.confirmLease();
      const path = await this.directory.publish(temporary, range, date);
      files += 1;
      this.metrics.rows.inc(rows);
      this.metrics.files.inc();
      this.metrics.fileBytes.inc((await stat(path)).size);
    }
    return files;
  }

  private async insertIntoClickHouse(range: IdRange, rows: readonly ExportRow[]): Promise<void> {
    try {
      this.sink ??= await this.openSink!();
      await this.sink.insert(rangeKey(range), rows);
      this.metrics.clickhouseRows.inc(rows.length);
      this.sinkFailingSince = null;
    } catch (error) {
      this.metrics.clickhouseErrors.inc();
      this.sinkFailingSince ??= Date.now();
      throw error;
    }
  }

  private async acknowledge(ids: readonly string[]): Promise<void> {
    this.checkLease();
    for (let at = 0; at < ids.length; at += ACK_CHUNK) {
      await this.redis.xack(this.config.REDIS_TELEMETRY_STREAM, EXPORT_GROUP, ...ids.slice(at, at + ACK_CHUNK));
    }
    this.progressAt = Date.now();
  }

  private async read(from: string, block: boolean): Promise<StreamEntry[]> {
    const { REDIS_TELEMETRY_STREAM: stream, EXPORT_CONSUMER: consumer, EXPORT_READ_COUNT } = this.config;
    const args: (string | number)[] = ['GROUP', EXPORT_GROUP, consumer, 'COUNT', EXPORT_READ_COUNT];
    if (block) args.push('BLOCK', 1000);
    args.push('STREAMS', stream, from);
    const reply = (await (this.redis.xreadgroup as (...a: (string | number)[]) => Promise<unknown>)(...args)) as
      | [string, [string, string[] | null][]][]
      | null;
    return reply && reply.length > 0 ? toStreamEntries(reply[0]![1]) : [];
  }

  async health(): Promise<HealthReport> {
    const info = await probe(() => groupInfo(this.redis, this.config.REDIS_TELEMETRY_STREAM, EXPORT_GROUP), 2000);
    const reasons: string[] = [];
    if (!info.ok) reasons.push(`redis: ${info.error}`);
    const lag = info.ok ? (info.value?.lag ?? null) : null;
    const pending = info.ok ? (info.value?.pending ?? 0) : null;
    if (lag !== null) this.metrics.lag.set(lag);
    if (pending !== null) this.metrics.pending.set(pending);
    const waiting = (lag ?? 0) + (pending ?? 0) > 0;
    if (this.active && waiting && Date.now() - this.progressAt > this.config.EXPORT_STALL_MS) reasons.push('export-stalled');
    if (this.sinkFailingSince !== null && Date.now() - this.sinkFailingSince > this.config.EXPORT_STALL_MS) reasons.push('clickhouse-failing');
    return {
      ok: reasons.length === 0,
      reasons,
      role: this.active ? 'active' : 'standby',
      group: EXPORT_GROUP,
      consumer: this.config.EXPORT_CONSUMER,
      lag,
      pending,
      decodedDevices: this.decoders?.decodedDevices ?? 0,
    };
  }

  /** Writes the batch in hand, acknowledges it, and stops. */
  async close(): Promise<void> {
    this.closing = true;
    for (const timer of this.timers) clearInterval(timer);
    await this.running?.catch((error: unknown) => this.log.error({ err: error }, 'exporter loop ended with an error'));
    if (this.active) await this.lease.release().catch(() => undefined);
    this.batch?.close();
    await this.sink?.close().catch(() => undefined);
    await this.db?.destroy();
    this.redis.disconnect();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

const noDecoding = () => null;

async function openConfiguredSink(config: ExporterConfig, log: Logger): Promise<ClickHouseSink> {
  const { ClickHouseSink } = await import('./clickhouse-sink.ts');
  return ClickHouseSink.open(
    { url: config.CLICKHOUSE_URL!, database: config.CLICKHOUSE_DATABASE, table: config.CLICKHOUSE_TABLE, username: config.CLICKHOUSE_USER, password: config.CLICKHOUSE_PASSWORD },
    log,
  );
}
