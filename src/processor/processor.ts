import type { Server } from 'node:http';
import { setImmediate } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { closeRedis, redisConnectionLog, reportConnection } from '../stream/connection-report.ts';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import { connectDb, STATEMENT_TIMEOUT_MS, type Db } from '../store/db.ts';
import { DEAD_LETTER_CATEGORIES, writeDeadLetters, type DeadLetter } from '../stream/dead-letter.ts';
import type { FactChanges } from '../domain/pipeline/device-pipeline.ts';
import { mergeChanges } from '../domain/pipeline/merge-changes.ts';
import { payloadAttributesText } from '../domain/payload-attributes-text.ts';
import type { Position } from '../domain/position.ts';
import { shardOf } from '../domain/sharding/shard-of.ts';
import { ShardLeases } from '../stream/shard-leases.ts';
import { ShardedConsumer } from '../stream/sharded-consumer.ts';
import type { StreamEntry } from '../stream/stream-entry.ts';
import type { Fence } from '../stream/telemetry-consumer.ts';
import { serveMetrics, type HealthReport } from '../observability/metrics-server.ts';
import { BatchWriter } from '../store/batch-writer.ts';
import { enqueueFacts } from '../store/outbox.ts';
import { SMALL_BATCH } from '../store/copy-rows.ts';
import { NewRows, storeLiveBatch, storeLiveBatchIsolating } from '../store/live-batch.ts';
import { isRowRefusal } from '../store/row-refusal.ts';
import { PROCESSOR_GROUP, pipelineOptions, type ProcessorConfig } from './config.ts';
import { entryWrites, sortBatch } from './ingest-batch.ts';
import { BacklogPriority } from './backlog-priority.ts';
import { ProcessorHealth } from './health-probes.ts';
import { OutboxCourier } from './outbox-courier.ts';
import { OutboxTurns, type OutboxTurn } from './outbox-turns.ts';
import { Racing, type DecodedRow } from './racing.ts';
import { STATUS_EVERY_MS, StatusWriter } from './status-writer.ts';

/** Entries prepared between two yields to the event loop (see prepareBatch): a few milliseconds of work. */
const PREPARE_PART = 50;

/** A batch checked, timed and decoded, waiting for its turn to be stored. */
interface PreparedBatch {
  entries: StreamEntry[];
  positions: Position[];
  /** The stream entry of each position (same index). */
  sources: StreamEntry[];
  deadLetters: DeadLetter[];
  tracked: { changes: FactChanges; undo: () => void } | null;
  decoded: DecodedRow[];
  /** The COPY text of a large batch (see storeLiveBatch); absent for a small one. */
  newRows: NewRows | undefined;
  stopTimer: () => void;
  /** Its place among the outbox writes (see OutboxTurns). */
  turn: OutboxTurn;
}

/**
 * The live processor: stream entries in; positions, decoded attributes and the racing pipeline's fact changes
 * stored in one transaction; then acknowledged. The next batch is checked, timed and decoded while one is being
 * stored (see StagedBatchHandler). The courier hands the facts to Directus on its own schedule, so ingestion never
 * waits for Directus.
 */
export class Processor {
  readonly registry = new Registry();
  private readonly redis: Redis;
  private readonly leaseRedis: Redis;
  private readonly db: Db;
  /** Writes a draining backlog's batches from a thread of its own (see BatchWriter). */
  private readonly writer: BatchWriter;
  private readonly consumer: ShardedConsumer<PreparedBatch>;
  private readonly backlog: BacklogPriority;
  private server: Server | null = null;
  private status: StatusWriter | null = null;
  private closed = false;
  private readonly received: Counter;
  private readonly stored: Counter;
  private readonly deadLettered: Counter;
  private readonly batchSeconds: Histogram;
  private readonly facts: Counter;
  private readonly racing: Racing | null;
  private readonly courier: OutboxCourier | null;
  private readonly healthChecks: ProcessorHealth;
  private timers: NodeJS.Timeout[] = [];
  private unsentTick: FactChanges = { upserts: [], retractions: [] };
  private readonly outboxTurns = new OutboxTurns();

  constructor(private readonly config: ProcessorConfig, private readonly log: Logger) {
    this.redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: false });
    reportConnection(this.redis, redisConnectionLog(log));
    // Leases are renewed on a connection of their own: on the reading one they would wait behind its blocking reads.
    this.leaseRedis = this.redis.duplicate();
    reportConnection(this.leaseRedis, { warn: () => undefined, back: () => undefined });
    this.db = connectDb(config.DATABASE_URL, { application: 'pitwall-processor', log });
    this.writer = new BatchWriter({ databaseUrl: config.DATABASE_URL, application: 'pitwall-processor', statementTimeoutMs: STATEMENT_TIMEOUT_MS });
    collectDefaultMetrics({ register: this.registry });
    this.received = new Counter({ name: 'pitwall_stream_entries_total', help: 'Stream entries handled', registers: [this.registry] });
    this.stored = new Counter({ name: 'pitwall_positions_stored_total', help: 'New rows in positions', registers: [this.registry] });
    this.deadLettered = new Counter({
      name: 'pitwall_dead_letters_total',
      help: 'Entries sent to the dead-letter stream, by reason: malformed, trimmed, future, database',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    for (const reason of DEAD_LETTER_CATEGORIES) this.deadLettered.inc({ reason }, 0);
    this.batchSeconds = new Histogram({
      name: 'pitwall_batch_seconds',
      help: 'Time to make one batch durable',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    this.facts = new Counter({ name: 'pitwall_facts_total', help: 'Fact changes written to the outbox', labelNames: ['change'], registers: [this.registry] });
    const racingEnabled = Boolean(config.DIRECTUS_URL && config.DIRECTUS_TOKEN);
    this.racing = racingEnabled ? new Racing(this.db, pipelineOptions(config), log) : null;
    this.backlog = new BacklogPriority(config.PROCESSOR_BACKLOG_NICE, log);
    const backlog = this.backlog;
    // Draining a backlog, the facts of many batches go in one request: Directus's CPU is the timekeepers' then.
    const pace = () => (backlog.draining ? config.PROCESSOR_BACKLOG_FACTS_MS : 0);
    this.courier = racingEnabled ? new OutboxCourier(this.db, { directusUrl: config.DIRECTUS_URL!, token: config.DIRECTUS_TOKEN!, pace }, log) : null;
    const shardKey = (deviceId: string) => this.racing?.shardKey(deviceId) ?? deviceId;
    const shardOfDevice = (deviceId: string) => shardOf(shardKey(deviceId), config.PROCESSOR_SHARDS);
    this.consumer = new ShardedConsumer(
      this.redis,
      new ShardLeases(this.leaseRedis, config.REDIS_TELEMETRY_STREAM, config.PROCESSOR_CONSUMER, config.PROCESSOR_LEASE_MS),
      {
        stream: config.REDIS_TELEMETRY_STREAM,
        group: PROCESSOR_GROUP,
        shardCount: config.PROCESSOR_SHARDS,
        batchSize: config.PROCESSOR_BATCH_SIZE,
        blockMs: config.PROCESSOR_BLOCK_MS,
        rebalanceMs: config.PROCESSOR_REBALANCE_MS,
        onRead: (reachedEnd) => this.backlog.read(reachedEnd),
      },
      {
        prepare: (entries) => this.prepareBatch(entries),
        store: (batch, fence) => this.storeBatch(batch, fence),
        discard: (batch) => this.discardBatch(batch),
        shardKey,
        formerShardKey: (deviceId) => this.racing?.formerShardKey(deviceId) ?? null,
        shardsLost: async (isLost) => {
          const isGone = (deviceId: string) => isLost(shardOfDevice(deviceId));
          await this.racing?.forget(isGone);
          // Tick facts held back while Postgres was down are the new holder's to decide now, as the trackers are.
          if (this.racing) this.unsentTick = this.racing.keptChanges(this.unsentTick, isGone);
        },
      },
      log,
    );
    if (this.racing) {
      this.racing.owns = (deviceId) => this.consumer.owned.has(shardOfDevice(deviceId));
      // The other instances load a change of the setup within one refresh of this one, and take a while to load it.
      this.racing.formerKeyMs = 2 * config.PROCESSOR_SETUP_REFRESH_MS + 5_000;
    }
    this.healthChecks = new ProcessorHealth({
      redis: this.redis,
      db: this.db,
      stream: config.REDIS_TELEMETRY_STREAM,
      group: PROCESSOR_GROUP,
      racing: racingEnabled,
      progressAt: () => this.consumer.progressAt,
      oldestWaiting: () => this.consumer.oldestWaiting(),
      shardCountConflict: () => this.consumer.shardCountConflict,
      stallMs: config.PROCESSOR_STALL_MS,
    });
    this.healthChecks.registerMetrics(this.registry);
    const consumer = this.consumer;
    new Gauge({
      name: 'pitwall_processor_nice',
      help: 'Nice value of the processor thread: raised while it drains a backlog (PROCESSOR_BACKLOG_NICE)',
      registers: [this.registry],
      collect() {
        this.set(backlog.current);
      },
    });
    new Gauge({
      name: 'pitwall_stream_trimmed_unread',
      help: 'Stream entries found deleted (XTRIM, MAXLEN) before this processor read them: lost fixes',
      registers: [this.registry],
      collect() {
        this.set(consumer.trimmedUnread);
      },
    });
    new Gauge({
      name: 'pitwall_shards_held',
      help: 'Shards this instance holds (of PROCESSOR_SHARDS): how the trackers are spread over the instances',
      registers: [this.registry],
      collect() {
        this.set(consumer.owned.size);
      },
    });
  }

  /** Trackers with a racing pipeline in this process (0 without Directus). */
  get racedDevices(): number {
    return this.racing?.deviceCount ?? 0;
  }

  /**
   * The CPU side of a batch, done while the batch before it is being stored: check, decode, make the COPY text,
   * time. Part by part, yielding in between: the batch being stored is written to Postgres by this same thread,
   * and a socket that waits for the whole of this runs dry.
   */
  private async prepareBatch(entries: StreamEntry[]): Promise<PreparedBatch> {
    const stopTimer = this.batchSeconds.startTimer();
    const sortOptions = { now: Date.now(), maxFutureSkewMs: this.config.MAX_FUTURE_SKEW_MS };
    const positions: Position[] = [];
    const sources: StreamEntry[] = [];
    const deadLetters: DeadLetter[] = [];
    const decoded: DecodedRow[] = [];
    const newRows = entries.length > SMALL_BATCH ? new NewRows() : undefined;
    for (let at = 0; at < entries.length; at += PREPARE_PART) {
      const part = sortBatch(entries.slice(at, at + PREPARE_PART), sortOptions);
      const partDecoded = this.racing?.decode(part.positions) ?? [];
      // The raw attributes as the payloads have them: serialising the parsed ones again costs more than parsing.
      newRows?.add(part.positions, partDecoded, part.sources.map((entry) => payloadAttributesText(entry.fields!.payload!)));
      positions.push(...part.positions);
      sources.push(...part.sources);
      deadLetters.push(...part.deadLetters);
      decoded.push(...partDecoded);
      await setImmediate();
    }
    const tracked = this.racing ? await this.racing.track(positions) : null;
    // Taken as soon as the facts are computed, before anything else can compute newer ones.
    const turn = this.outboxTurns.take();
    return { entries, positions, sources, deadLetters, tracked, decoded, newRows, stopTimer, turn };
  }

  /**
   * Positions, decoded attributes and fact changes in one transaction; then the dead letters. When Postgres refuses
   * rows of the batch, the batch is stored again without them and each entry refused is dead-lettered with the
   * database's reason: one entry must never stop the stream. Other failures (the connection) throw, and the batch
   * is retried whole.
   */
  private async storeBatch(batch: PreparedBatch, fence?: Fence): Promise<void> {
    const { positions, decoded, tracked } = batch;
    const deadLetters = [...batch.deadLetters];
    let stored: number;
    try {
      stored = await batch.turn.run(() => storeLiveBatch(this.db, positions, decoded, tracked?.changes ?? null, { newRows: batch.newRows, fence, writer: this.writer }));
    } catch (error) {
      if (!isRowRefusal(error)) throw error;
      // Not the error itself: knex put the whole statement, every row of the batch, in front of its message.
      this.log.warn({ sqlstate: error.code, detail: error.detail, entries: batch.sources.length }, 'the database refused rows of a batch; storing it entry by entry where refused');
      // The batch's turn is over: its facts go in a new one, behind what was computed meanwhile (they are keyed).
      const isolated = await this.outboxTurns.take().run(() => storeLiveBatchIsolating(this.db, entryWrites(batch.sources, positions, decoded), tracked?.changes ?? null, fence));
      stored = isolated.stored;
      const fieldsOf = new Map(batch.sources.map((entry) => [entry.id, entry.fields]));
      for (const refused of isolated.refused) {
        if (refused.id === null) this.log.error({ reason: refused.reason }, 'the database refused decoded attributes of no entry');
        else deadLetters.push({ id: refused.id, category: 'database', reason: refused.reason, fields: fieldsOf.get(refused.id) ?? null });
      }
    }
    if (tracked) this.countFacts(tracked.changes);
    await writeDeadLetters(this.redis, this.config.DEAD_LETTER_STREAM, deadLetters);
    for (const letter of deadLetters) {
      this.log.warn({ entry: letter.id, category: letter.category, reason: letter.reason }, 'entry dead-lettered');
      this.deadLettered.inc({ reason: letter.category });
    }
    this.received.inc(batch.entries.length);
    this.stored.inc(stored);
    batch.stopTimer();
  }

  /** The batch comes back; the pipelines must see it as new then. */
  private discardBatch(batch: PreparedBatch): void {
    batch.tracked?.undo();
    batch.turn.pass();
  }

  private countFacts(changes: { upserts: unknown[]; retractions: unknown[] }): void {
    this.facts.inc({ change: 'upsert' }, changes.upserts.length);
    this.facts.inc({ change: 'retraction' }, changes.retractions.length);
    if (changes.upserts.length + changes.retractions.length > 0) this.courier?.nudge();
  }

  /**
   * Time alone decides some facts (DNF at stage close, an open signal loss), and trackers assigned to an entry after
   * their fixes arrived are timed from what is stored of them (Racing.catchUp). The pipelines are not rolled back
   * when these cannot be stored, since batches may have moved them on meanwhile: the changes are kept and stored
   * with the next tick instead.
   */
  private async tick(): Promise<void> {
    // After a pause, not before Redis has said which shards (and so which trackers) are still this instance's.
    if (!this.racing || !this.consumer.leasesFresh()) return;
    // Not ahead of what has been read: a tracker whose fixes still wait in the stream has not gone silent.
    const changes = mergeChanges([this.unsentTick, await this.racing.tick(Math.min(Date.now(), this.consumer.caughtUpAt))]);
    // At once, before a batch prepared after these facts can take its turn.
    const turn = this.outboxTurns.take();
    try {
      await turn.run(() => enqueueFacts(this.db, changes));
      this.unsentTick = { upserts: [], retractions: [] };
      this.countFacts(changes);
    } catch (error) {
      // Not those of trackers whose shard moved meanwhile (see shardsLost).
      this.unsentTick = this.racing.keptChanges(changes, (deviceId) => !this.racing!.owns(deviceId));
      this.log.warn({ err: error }, 'tick facts not stored yet; kept for the next tick');
    }
  }

  private every(ms: number, task: () => Promise<unknown>, what: string): void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      task()
        .catch((error) => this.log.warn({ err: error }, `${what} failed`))
        .finally(() => (busy = false));
    }, ms);
    this.timers.push(timer);
  }

  async start(): Promise<void> {
    this.server = await serveMetrics(this.registry, this.config.METRICS_PORT, () => this.health());
    // What the race office's health panel reads (GET /pitwall/status), as a row in Postgres.
    this.status = new StatusWriter(this.db, this.config.PROCESSOR_CONSUMER, { health: () => this.health(), registry: this.registry, holdsName: () => this.consumer.holdsName });
    const status = this.status;
    this.every(STATUS_EVERY_MS, () => status.write(), 'status row');
    if (this.racing) {
      await this.racing.refresh().catch((error) => this.log.error({ err: error }, 'race setup not loaded yet; retrying'));
      this.every(this.config.PROCESSOR_SETUP_REFRESH_MS, () => this.racing!.refresh(), 'race setup refresh');
      this.every(this.config.PROCESSOR_TICK_MS, () => this.tick(), 'tick');
      void this.courier!.run().catch((error) => this.log.fatal({ err: error }, 'courier stopped'));
    } else {
      this.log.warn('DIRECTUS_URL and DIRECTUS_TOKEN are not set: storing positions only, no race timing');
    }
    this.log.info(
      {
        stream: this.config.REDIS_TELEMETRY_STREAM,
        group: PROCESSOR_GROUP,
        consumer: this.config.PROCESSOR_CONSUMER,
        deadLetterStream: this.config.DEAD_LETTER_STREAM,
        metricsPort: this.config.METRICS_PORT,
      },
      'processor starting',
    );
    void this.consumer.run().catch((error) => this.log.fatal({ err: error }, 'consumer stopped'));
  }

  /**
   * The /healthz report: see ProcessorHealth and healthReasons. A process waiting for its PROCESSOR_CONSUMER name
   * (another holds it) says so: it is well, and does nothing until the other is gone.
   */
  async health(): Promise<HealthReport> {
    const report = await this.healthChecks.report();
    return this.consumer.holdsName ? report : { ...report, waiting: 'consumer-name' };
  }

  /** Drains the batch in hand, then releases every connection; each step is tried even if one fails. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    await this.consumer.close();
    // The thread may go on with other work (a test, the bench): not at a backlog's priority.
    this.backlog.restore();
    await this.courier?.close();
    const steps: [string, () => Promise<unknown>][] = [
      ['status row', () => this.status?.remove() ?? Promise.resolve()],
      ['metrics server', () => new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)))],
      ['redis', () => closeRedis(this.redis)],
      ['redis (leases)', () => closeRedis(this.leaseRedis)],
      ['postgres (batch writer)', () => this.writer.close()],
      ['postgres', () => this.db.destroy()],
    ];
    for (const [name, step] of steps) {
      try {
        await step();
      } catch (error) {
        this.log.warn({ err: error }, `closing ${name} failed`);
      }
    }
  }
}
