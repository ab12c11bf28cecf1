import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { redactUrl } from '../domain/webhooks/redact-url.ts';
import { healthErrors, probe, serveMetrics, sharedProbe, type HealthReport } from '../observability/metrics-server.ts';
import { connectDb } from '../store/db.ts';
import { ensureGroup, groupInfo, groupWithUnread } from '../stream/consumer-group.ts';
import { compareCursor } from '../stream/cursor.ts';
import { boundedReadCount, entrySize, recentLargest } from '../stream/read-count.ts';
import { Lease } from '../stream/lease.ts';
import { LEASE_NOT_HELD, LeaseFencedReader } from '../stream/lease-fenced-reader.ts';
import { toStreamEntries, type StreamEntry } from '../stream/stream-entry.ts';
import { ClickHouseSink } from './clickhouse-sink.ts';
import type { ExporterConfig } from './config.ts';
import { DeviceDecoders } from './device-decoders.ts';
import { readExportEntry } from './export-row.ts';
import { ParquetBatch } from './parquet-batch.ts';
import { PartDirectory } from './part-directory.ts';
import { FixDates, rangeKey, WrittenBatches, type IdRange } from './part-files.ts';
import { redisConnectionLog, reportConnection, unlessRedisDown } from '../stream/connection-report.ts';

/** The exporter's consumer group on the telemetry stream (CONTRACTS section 1). */
export const EXPORT_GROUP = 'analytics-export';
const ACK_CHUNK = 10_000;
const IDLE_POLL_MS = 200;
/** A batch of entries: all of them are acknowledged together once its files are written. */
interface Gathered {
  batch: ParquetBatch;
  ids: string[];
  /** When its first entry was added (performance.now(): a wall clock set back must not hold a file open). */
  startedAt: number;
}

/** Entries delivered again, by the written batch they belong to. */
type Completions = Map<string, { range: IdRange; entries: StreamEntry[] }>;

/** What a background write that failed leaves (see flush). */
interface WriteFailure {
  error: unknown;
  full: Gathered;
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
  private readonly reader: LeaseFencedReader;
  private readonly db: Knex | null;
  private readonly decoders: DeviceDecoders | null;
  private readonly lease: Lease;
  private readonly directory: PartDirectory;
  private readonly metrics;
  /** The batch being gathered, and the other one: written while the next one is gathered. */
  private gathered: Gathered | null = null;
  private spare: ParquetBatch | null = null;
  /** Batches whose entries Redis no longer holds (see keepInHand), written before anything newer. */
  private readonly unacknowledged: Gathered[] = [];
  /** The batch of the last write that failed, until the loop has dealt with the failure. */
  private failedWrite: Gathered | null = null;
  /** The write of the previous batch, in the background of gathering the next; never rejects (see flush). */
  private writing: Promise<unknown> | null = null;
  private sink: ClickHouseSink | null = null;
  private server: Server | null = null;
  private running: Promise<void> | null = null;
  private closing = false;
  private active = false;
  private renewing = false;
  private timers: NodeJS.Timeout[] = [];
  /** When a batch was last written (or the stream found empty): health compares it with the entries waiting. */
  private progressAt = Date.now();
  private sinkFailingSince: number | null = null;
  /** Why the last ClickHouse insert failed, while inserts fail: /healthz tells it at once (503 only after EXPORT_STALL_MS). */
  private sinkError: string | null = null;
  /** Why the last part file could not be written (a full disk, a path taken by a file, no permission); null once one is. */
  private filesFailing: string | null = null;
  private readonly fixDates = new FixDates();
  /** The largest entry of the recent reads, in characters (see recentLargest), and what the read in hand asked for. */
  private largestEntry = 0;
  private readCount = 0;
  /** The batches whose files exist, read from the directory when the lease is taken and kept up to date since. */
  private written = new WrittenBatches();
  /**
   * The last entry gathered into a batch not yet acknowledged (the one gathered, or the one being written); null when
   * none is. Redis gone back to an older state without losing the lease (an append-only file that lost its last
   * second) delivers again entries that such a batch holds: they are not gathered a second time (see gather).
   */
  private inHandUpTo: string | null = null;
  /** The group's XINFO with its unread entries counted, one request for all the gauges of a scrape and /healthz. */
  private readonly groupState = sharedProbe(() => groupWithUnread(this.redis, this.config.REDIS_TELEMETRY_STREAM, EXPORT_GROUP), 2000);

  constructor(
    private readonly config: ExporterConfig,
    private readonly log: Logger,
    /** Opens the ClickHouse sink (tests pass their own server's); by default from CLICKHOUSE_* settings. */
    private readonly openSink: (() => Promise<ClickHouseSink>) | null = config.CLICKHOUSE_URL ? () => openConfiguredSink(config, log) : null,
  ) {
    this.redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: true });
    reportConnection(this.redis, redisConnectionLog(log));
    this.db = config.DATABASE_URL ? connectDb(config.DATABASE_URL, { pool: 2, application: 'pitwall-exporter', log }) : null;
    this.decoders = this.db ? new DeviceDecoders(this.db) : null;
    // The lease key's hash tag is the stream's name: in a Redis Cluster the fenced read's keys share one slot.
    this.lease = new Lease(this.redis, `pitwall:{${config.REDIS_TELEMETRY_STREAM}}:exporter`, `${config.EXPORT_CONSUMER}:${randomUUID()}`, config.EXPORT_LEASE_MS);
    this.reader = new LeaseFencedReader(config.REDIS_URL, this.lease.key, this.lease.holder);
    this.directory = new PartDirectory(config.EXPORT_DIR);
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    const self = this;
    this.metrics = {
      active: new Gauge({ name: 'pitwall_export_active', help: '1 while this exporter holds the lease and writes, 0 while it waits', registers, collect() { this.set(self.active ? 1 : 0); } }),
      rows: new Counter({ name: 'pitwall_export_rows_total', help: 'Rows written to Parquet files', registers }),
      files: new Counter({ name: 'pitwall_export_files_total', help: 'Parquet files written', registers }),
      fileBytes: new Counter({ name: 'pitwall_export_file_bytes_total', help: 'Bytes of Parquet files written', registers }),
      fileErrors: new Counter({ name: 'pitwall_export_file_errors_total', help: 'Part files that could not be written (the batch is retried; /healthz says why)', registers }),
      skipped: new Counter({ name: 'pitwall_export_skipped_entries_total', help: 'Stream entries without a row (malformed; the log says why)', registers }),
      deliveredAgain: new Counter({ name: 'pitwall_export_redelivered_entries_total', help: 'Entries Redis delivered again (it went back to an older state) that a batch in hand already held: not gathered twice', registers }),
      batchRows: new Gauge({ name: 'pitwall_export_batch_rows', help: 'Rows gathered and not yet written', registers, collect() { this.set(self.gathered?.batch.rows ?? 0); } }),
      flushSeconds: new Histogram({ name: 'pitwall_export_flush_seconds', help: 'Time to write a batch: files, ClickHouse, acknowledgement', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers }),
      // Read at each scrape, not only when /healthz is asked: a lag alert must not depend on a health checker.
      lag: new Gauge({ name: 'pitwall_export_stream_lag_entries', help: `Entries of the stream the ${EXPORT_GROUP} group has not read yet`, registers, async collect() { const info = await self.groupState(); this.set(info.ok ? (info.value?.lag ?? Number.NaN) : Number.NaN); } }),
      pending: new Gauge({ name: 'pitwall_export_pending_entries', help: 'Entries read and not yet acknowledged (in the batch being gathered or written)', registers, async collect() { const info = await self.groupState(); this.set(info.ok ? (info.value?.pending ?? 0) : Number.NaN); } }),
      clickhouseRows: new Counter({ name: 'pitwall_export_clickhouse_rows_total', help: 'Rows inserted into ClickHouse', registers }),
      clickhouseErrors: new Counter({ name: 'pitwall_export_clickhouse_errors_total', help: 'ClickHouse inserts that failed (the batch is retried)', registers }),
    };
  }

  async start(): Promise<void> {
    const { REDIS_TELEMETRY_STREAM: stream, EXPORT_DIR, METRICS_PORT } = this.config;
    this.log.info({ stream, group: EXPORT_GROUP, consumer: this.config.EXPORT_CONSUMER, dir: EXPORT_DIR, clickhouse: this.config.CLICKHOUSE_URL ? redactUrl(this.config.CLICKHOUSE_URL) : null }, 'exporter starting');
    await this.directory.claim(stream);
    this.server = await serveMetrics(this.registry, METRICS_PORT, () => this.health());
    this.gathered = this.emptyBatch(await ParquetBatch.open(this.config.EXPORT_COMPRESSION));
    this.spare = await ParquetBatch.open(this.config.EXPORT_COMPRESSION);
    await this.redis.connect().catch((error: unknown) => this.log.warn({ err: error }, 'redis not reachable yet; retrying'));
    await this.reader.connect().catch(() => undefined); // retried as the main connection is, and reported by it
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
    // One renewal at a time: during a Redis outage the timer's renewals would queue up and, Redis back without the
    // lease, each report the loss.
    if (!this.active || this.renewing) return;
    this.renewing = true;
    try {
      if (!(await this.lease.renew()) && this.active) {
        this.active = false;
        this.log.error('exporter lease lost (another exporter took it, or Redis lost it); the batch in hand is not written by this exporter now');
      }
    } catch (error) {
      this.log.warn({ err: error }, 'exporter lease not renewed');
    } finally {
      this.renewing = false;
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
        const unsettled = (await this.writing) as WriteFailure | null | undefined;
        this.writing = null;
        const failedWrite = this.failedWrite ?? unsettled?.full ?? null;
        this.failedWrite = null;
        const groupMissing = isNoGroup(error);
        if (error instanceof LeaseLost) this.active = false;
        else if (!groupMissing) this.log.error({ err: error }, 'export batch not written; its entries stay pending and are retried');
        if ((error instanceof LeaseLost || groupMissing) && (await this.groupGone())) {
          await this.keepInHand(failedWrite);
          // The stream was deleted (or Redis lost its data) under a lease that is still this exporter's: takeOver,
          // which creates the group, runs only for a lease being taken, so the group is made here.
          if (groupMissing) await ensureGroup(this.redis, this.config.REDIS_TELEMETRY_STREAM, EXPORT_GROUP, '0').catch((e: unknown) => this.log.warn({ err: e }, 'export group not created yet'));
        } else {
          // The entries in hand are still pending: start again from the pending list and the files.
          await this.gathered!.batch.clear();
          this.gathered = this.emptyBatch(this.gathered!.batch);
          await this.spare!.clear();
        }
        // Kept batches are written before anything is read again, and their ranges are then files.
        this.inHandUpTo = null;
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  /** Whether Redis lost group analytics-export (and with it the pending list): it restarted without its data. */
  private async groupGone(): Promise<boolean> {
    try {
      return (await groupInfo(this.redis, this.config.REDIS_TELEMETRY_STREAM, EXPORT_GROUP)) === null;
    } catch {
      return false;
    }
  }

  /**
   * Keeps the entries in hand (the batch gathered, and one whose write failed) to write them once this exporter holds
   * the lease again: Redis lost their pending list, so no other exporter can have them, and they are not in the
   * stream to read again.
   */
  private async keepInHand(failedWrite: Gathered | null): Promise<void> {
    const kept = [failedWrite, this.gathered!].filter((gathered): gathered is Gathered => gathered !== null && gathered.ids.length > 0);
    this.log.warn({ batches: kept.length, entries: kept.reduce((sum, g) => sum + g.ids.length, 0) }, 'Redis lost the export group (restarted without its data, or the stream was deleted): the entries in hand are kept and written once the lease is held again');
    this.unacknowledged.push(...kept);
    // Their tables stay with them; new ones take their place.
    if (kept.includes(this.gathered!)) this.gathered = this.emptyBatch(await ParquetBatch.open(this.config.EXPORT_COMPRESSION));
    if (failedWrite && kept.includes(failedWrite)) this.spare = await ParquetBatch.open(this.config.EXPORT_COMPRESSION);
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
    this.written = await this.recover();
    // Oldest first, each dropped only once written, so a failure keeps the rest.
    while (this.unacknowledged.length > 0) {
      const kept = this.unacknowledged[0]!;
      await this.write(kept);
      this.unacknowledged.shift();
      kept.batch.close();
    }
    // The pending list first: entries of a batch that has files complete it, the others start a new batch.
    const completions: Completions = new Map();
    for (let after = '0'; ; ) {
      const entries = await this.read(after, false);
      if (entries.length === 0) break;
      after = entries.at(-1)!.id;
      this.route(entries, completions);
    }
    for (const { range, entries } of completions.values()) await this.complete(range, entries);
    let next: Promise<StreamEntry[]> | null = null;
    try {
      while (!this.closing) {
        this.checkLease();
        // While a batch is being written, only take what is already there: a blocking read would hold the
        // connection, and with it that batch's acknowledgement, until new entries come.
        const writing = this.writing !== null;
        const entries: StreamEntry[] = await (next ?? this.read('>', !writing));
        // A full read says more is waiting: Redis gets the next one ready while this one is gathered.
        next = entries.length === this.readCount ? this.prefetch() : null;
        if (this.redelivered(entries)) await this.completeRedelivered(entries);
        else for (const entry of entries) this.gather(entry);
        if (entries.length === 0 && writing) await this.settle();
        else if (entries.length === 0 && this.gathered!.ids.length === 0) this.progressAt = Date.now();
        if (this.isDue()) await this.flush();
      }
    } catch (error) {
      // Entries read ahead are in hand as the gathered ones are: if Redis lost them, only this exporter has them.
      for (const entry of next ? await next.catch(() => []) : []) this.gather(entry);
      throw error;
    }
    for (const entry of next ? await next : []) this.gather(entry);
    if (this.gathered!.ids.length > 0) await this.flush();
    await this.settle();
  }

  /**
   * Whether a read hands back entries that files already hold. New entries come after the last batch written, unless
   * Redis went back to an older state (restarted from a snapshot, or from an append-only file that lost its last
   * second): then the group delivers again entries whose batches were written and acknowledged.
   */
  private redelivered(entries: readonly StreamEntry[]): boolean {
    const upTo = this.written.lastId;
    return upTo !== null && entries.length > 0 && compareCursor(entries[0]!.id, upTo) <= 0;
  }

  /** Acknowledges (and completes the files of) entries delivered again; gathers the others. */
  private async completeRedelivered(entries: readonly StreamEntry[]): Promise<void> {
    const completions: Completions = new Map();
    this.route(entries, completions);
    if (completions.size === 0) return;
    await this.settle();
    for (const { range, entries: again } of completions.values()) await this.complete(range, again);
  }

  /** Entries inside a written batch go to its completion; the others are gathered into the batch in hand. */
  private route(entries: readonly StreamEntry[], completions: Completions): void {
    for (const entry of entries) {
      const range = this.written.batchOf(entry.id);
      if (range === null) {
        this.gather(entry);
        continue;
      }
      const key = rangeKey(range);
      const completion = completions.get(key) ?? { range, entries: [] };
      completion.entries.push(entry);
      completions.set(key, completion);
    }
  }

  /** A read started now and awaited later; its failure is thrown where it is awaited, never left unhandled. */
  private prefetch(): Promise<StreamEntry[]> {
    const read = this.read('>', false);
    read.catch(() => undefined);
    return read;
  }

  private async recover(): Promise<WrittenBatches> {
    const { written, removed } = await this.directory.recover();
    if (removed > 0) this.log.warn({ removed }, 'removed temporary files of a batch cut short');
    return written;
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

  private emptyBatch(batch: ParquetBatch): Gathered {
    return { batch, ids: [], startedAt: 0 };
  }

  private gather(entry: StreamEntry): void {
    if (this.inHandUpTo !== null && compareCursor(entry.id, this.inHandUpTo) <= 0) {
      // In a batch in hand already, and acknowledged with it (an id is acknowledged whoever it was delivered to).
      this.metrics.deliveredAgain.inc();
      return;
    }
    this.inHandUpTo = entry.id;
    const gathered = this.gathered!;
    const read = readExportEntry(entry.id, entry.fields, this.decoders?.decode ?? noDecoding);
    if (gathered.ids.length === 0) gathered.startedAt = performance.now();
    gathered.ids.push(entry.id);
    if (!read.ok) {
      this.metrics.skipped.inc();
      this.log.warn({ id: entry.id, reason: read.reason }, 'stream entry not exported');
      return;
    }
    gathered.batch.add(read.entry, this.fixDates.of(read.entry.ts));
  }

  private isDue(): boolean {
    const { EXPORT_FILE_ROWS, EXPORT_FILE_BYTES, EXPORT_FILE_MAX_AGE_MS } = this.config;
    const { batch, ids, startedAt } = this.gathered!;
    if (ids.length === 0) return false;
    return batch.rows >= EXPORT_FILE_ROWS || batch.bytes >= EXPORT_FILE_BYTES || performance.now() - startedAt >= EXPORT_FILE_MAX_AGE_MS;
  }

  /**
   * Hands the batch gathered to the background write (after the previous one is written: batches are written and
   * acknowledged in stream order) and gathers the next one into the other table meanwhile.
   */
  private async flush(): Promise<void> {
    await this.settle();
    const full = this.gathered!;
    this.gathered = this.emptyBatch(this.spare!);
    this.spare = null;
    this.writing = this.write(full).then(
      () => {
        this.spare = full.batch;
        return null;
      },
      (error: unknown) => {
        this.spare = full.batch;
        return { error, full };
      },
    );
  }

  /** Waits for the batch being written; throws its failure (then its entries and the newer ones stay pending). */
  private async settle(): Promise<void> {
    const outcome = (await this.writing) as WriteFailure | null | undefined;
    this.writing = null;
    if (outcome) {
      this.failedWrite = outcome.full;
      throw outcome.error;
    }
  }

  /** Writes one batch: its files, then ClickHouse, then the acknowledgement. */
  private async write({ batch, ids }: Gathered): Promise<void> {
    const range = { first: ids[0]!, last: ids.at(-1)! };
    const done = this.metrics.flushSeconds.startTimer();
    await this.writeFiles(range, batch);
    if (this.openSink) await this.insertIntoClickHouse(range, batch);
    await this.acknowledge(ids);
    if (this.inHandUpTo === ids.at(-1)) this.inHandUpTo = null; // nothing newer in hand: redelivered ones are files now
    await batch.clear();
    done();
  }

  /**
   * Finishes a batch that was written (all or some of its files) but not acknowledged: its entries came back from the
   * pending list, and the files it lacks are written from them (the ones it has stay as they are).
   */
  private async complete(range: IdRange, entries: StreamEntry[]): Promise<void> {
    const batch = await ParquetBatch.open(this.config.EXPORT_COMPRESSION, 1);
    try {
      for (const entry of entries) {
        const read = readExportEntry(entry.id, entry.fields, this.decoders?.decode ?? noDecoding);
        if (read.ok) batch.add(read.entry, this.fixDates.of(read.entry.ts));
      }
      const wrote = await this.writeFiles(range, batch);
      if (this.sinkFailingSince !== null) this.log.info({ range, entries: entries.length, filesWritten: wrote }, 'ClickHouse insert tried again for a batch whose files are written');
      else this.log.warn({ range, entries: entries.length, filesWritten: wrote }, 'finished a batch written before but not acknowledged (a crash, a lost lease, or Redis gone back to an older state)');
      if (this.openSink) await this.insertIntoClickHouse(range, batch);
      await this.acknowledge(entries.map((e) => e.id));
    } finally {
      batch.close();
    }
  }

  /** One file per fix date, skipping the dates that already have theirs. Returns how many were written. */
  private async writeFiles(range: IdRange, batch: ParquetBatch): Promise<number> {
    let files = 0;
    for (const date of batch.partitionDates) {
      if (this.written.has(range, date)) continue;
      const temporary = await this.onDisk(() => this.directory.temporaryPath(range, date));
      const rows = await this.onDisk(() => batch.write(date, temporary));
      await this.confirmLease();
      const path = await this.onDisk(() => this.directory.publish(temporary, range, date));
      this.written.add(range, date);
      files += 1;
      this.metrics.rows.inc(rows);
      this.metrics.files.inc();
      this.metrics.fileBytes.inc((await stat(path)).size);
    }
    this.filesFailing = null;
    return files;
  }

  /** A step of writing a part file; its failure is what /healthz reports until a batch is written again. */
  private async onDisk<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      this.metrics.fileErrors.inc();
      this.filesFailing = error instanceof Error ? error.message : String(error);
      throw error;
    }
  }

  private async insertIntoClickHouse(range: IdRange, batch: ParquetBatch): Promise<void> {
    try {
      const rows = await batch.exportRows();
      this.sink ??= await this.openSink!();
      await this.sink.insert(rangeKey(range), rows);
      this.metrics.clickhouseRows.inc(rows.length);
      this.sinkFailingSince = null;
      this.sinkError = null;
    } catch (error) {
      this.metrics.clickhouseErrors.inc();
      this.sinkFailingSince ??= Date.now();
      this.sinkError = error instanceof Error ? error.message : String(error);
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

  /**
   * Reads entries of the group only while this exporter holds the lease, checked by Redis in the same step: an
   * exporter paused past its lease must not take entries into its pending list after the new holder claimed the
   * list, or they would sit there inside batches the new holder wrote without them. (A guarded read cannot block, so
   * an idle exporter polls: `idle` waits a moment when nothing came.)
   */
  private async read(from: string, idle: boolean): Promise<StreamEntry[]> {
    const { REDIS_TELEMETRY_STREAM: stream, EXPORT_CONSUMER: consumer, EXPORT_READ_COUNT } = this.config;
    const count = boundedReadCount(EXPORT_READ_COUNT, this.largestEntry);
    this.readCount = count;
    const read = await this.reader.read({ group: EXPORT_GROUP, consumer, count, stream, from });
    if (read === LEASE_NOT_HELD) {
      this.active = false;
      throw new LeaseLost('exporter lease lost');
    }
    if (read.length > 0) this.largestEntry = recentLargest(this.largestEntry, read.reduce((largest, [, flat]) => Math.max(largest, entrySize(flat)), 0));
    const entries = toStreamEntries(read);
    if (entries.length === 0 && idle) await sleep(IDLE_POLL_MS);
    return entries;
  }

  async health(): Promise<HealthReport> {
    const [ping, info] = await Promise.all([probe(() => this.redis.ping(), 2000), this.groupState()]);
    const reasons: string[] = [];
    if (!ping.ok || !info.ok) reasons.push('redis-unreachable');
    const lag = info.ok ? (info.value?.lag ?? null) : null;
    const pending = info.ok ? (info.value?.pending ?? 0) : null;
    const waiting = (lag ?? 0) + (pending ?? 0) > 0;
    if (this.active && waiting && Date.now() - this.progressAt > this.config.EXPORT_STALL_MS) reasons.push('export-stalled');
    if (this.sinkFailingSince !== null && Date.now() - this.sinkFailingSince > this.config.EXPORT_STALL_MS) reasons.push('clickhouse-failing');
    // At once, not after EXPORT_STALL_MS: a disk that refuses a part does not come right by itself.
    if (this.active && this.filesFailing !== null) reasons.push('export-files-failing');
    return {
      ok: reasons.length === 0,
      reasons,
      role: this.active ? 'active' : 'standby',
      group: EXPORT_GROUP,
      consumer: this.config.EXPORT_CONSUMER,
      lag,
      pending,
      decodedDevices: this.decoders?.decodedDevices ?? 0,
      // A failing insert is said at once, with since when: a ClickHouse that is down is seen before the 503.
      ...healthErrors({ redis: ping, files: this.filesFailing, clickhouse: this.sinkError }),
      ...(this.sinkFailingSince === null ? {} : { clickhouseFailingSince: new Date(this.sinkFailingSince).toISOString() }),
      memory: memoryMb(),
    };
  }

  /** Writes the batch in hand, acknowledges it, and stops. */
  async close(): Promise<void> {
    this.closing = true;
    for (const timer of this.timers) clearInterval(timer);
    const ended = this.running?.catch((error: unknown) => this.log.error({ err: error }, 'exporter loop ended with an error'));
    if (!(await unlessRedisDown(this.redis, ended ?? Promise.resolve()))) {
      // The loop waits on Redis and may be writing a part: its batches stay open, and the lease lapses by itself.
      this.log.warn('Redis is unreachable: stopping without acknowledging the batch in hand; the next start reads it again and writes only the files it lacks');
    } else {
      if (this.active) await this.lease.release().catch(() => undefined);
      this.gathered?.batch.close();
      this.spare?.close();
    }
    if (this.unacknowledged.length > 0) this.log.error({ entries: this.unacknowledged.reduce((sum, g) => sum + g.ids.length, 0) }, 'stopped before writing the entries kept from before Redis lost its data; they are not exported');
    for (const kept of this.unacknowledged) kept.batch.close();
    await this.sink?.close().catch(() => undefined);
    await this.db?.destroy();
    this.redis.disconnect();
    this.reader.disconnect();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

const noDecoding = () => null;

/** The group (or its stream) is gone: Redis restarted without its data, or someone deleted the stream. */
const isNoGroup = (error: unknown): boolean => error instanceof Error && error.message.startsWith('NOGROUP');

/** The process's memory in MB: JavaScript heap, and the rest of the RSS (mostly DuckDB's batch tables). */
function memoryMb(): Record<string, number> {
  const { rss, heapUsed, heapTotal } = process.memoryUsage();
  return { rss: Math.round(rss / 2 ** 20), heapUsed: Math.round(heapUsed / 2 ** 20), heapTotal: Math.round(heapTotal / 2 ** 20) };
}

function openConfiguredSink(config: ExporterConfig, log: Logger): Promise<ClickHouseSink> {
  return ClickHouseSink.open(
    { url: config.CLICKHOUSE_URL!, database: config.CLICKHOUSE_DATABASE, table: config.CLICKHOUSE_TABLE, username: config.CLICKHOUSE_USER, password: config.CLICKHOUSE_PASSWORD },
    log,
  );
}
