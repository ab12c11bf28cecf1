import type { Server } from 'node:http';
import { Redis } from 'ioredis';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import { connectDb, type Db } from '../store/db.ts';
import { insertPositions } from '../store/positions.ts';
import { groupInfo } from '../stream/consumer-group.ts';
import { writeDeadLetters } from '../stream/dead-letter.ts';
import { TelemetryConsumer } from '../stream/telemetry-consumer.ts';
import type { StreamEntry } from '../stream/stream-entry.ts';
import { serveMetrics } from '../observability/metrics-server.ts';
import { PROCESSOR_GROUP, type ProcessorConfig } from './config.ts';
import { sortBatch } from './ingest-batch.ts';

/** The live processor: stream entries in, positions stored, then acknowledged. */
export class Processor {
  readonly registry = new Registry();
  private readonly redis: Redis;
  private readonly db: Db;
  private readonly consumer: TelemetryConsumer;
  private server: Server | null = null;
  private closed = false;
  private readonly received: Counter;
  private readonly stored: Counter;
  private readonly deadLettered: Counter;
  private readonly batchSeconds: Histogram;

  constructor(private readonly config: ProcessorConfig, private readonly log: Logger) {
    this.redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: false });
    this.redis.on('error', (error) => log.warn({ err: error }, 'redis connection problem'));
    this.db = connectDb(config.DATABASE_URL, { application: 'pitwall-processor', log });
    collectDefaultMetrics({ register: this.registry });
    const labels = { stream: config.REDIS_TELEMETRY_STREAM, group: PROCESSOR_GROUP };
    const redis = this.redis;
    new Gauge({
      name: 'pitwall_consumer_lag',
      help: 'Stream entries not yet delivered to the consumer group (XINFO GROUPS lag)',
      labelNames: ['stream', 'group'],
      registers: [this.registry],
      async collect() {
        const info = await groupInfo(redis, labels.stream, labels.group);
        if (info?.lag !== null && info?.lag !== undefined) this.set(labels, info.lag);
      },
    });
    new Gauge({
      name: 'pitwall_consumer_pending',
      help: 'Entries delivered to the group but not yet acknowledged',
      labelNames: ['stream', 'group'],
      registers: [this.registry],
      async collect() {
        const info = await groupInfo(redis, labels.stream, labels.group);
        if (info) this.set(labels, info.pending);
      },
    });
    this.received = new Counter({ name: 'pitwall_stream_entries_total', help: 'Stream entries handled', registers: [this.registry] });
    this.stored = new Counter({ name: 'pitwall_positions_stored_total', help: 'New rows in positions', registers: [this.registry] });
    this.deadLettered = new Counter({
      name: 'pitwall_dead_letters_total',
      help: 'Entries sent to the dead-letter stream',
      registers: [this.registry],
    });
    this.batchSeconds = new Histogram({
      name: 'pitwall_batch_seconds',
      help: 'Time to make one batch durable',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    this.consumer = new TelemetryConsumer(
      this.redis,
      {
        stream: config.REDIS_TELEMETRY_STREAM,
        group: PROCESSOR_GROUP,
        consumer: config.PROCESSOR_CONSUMER,
        batchSize: config.PROCESSOR_BATCH_SIZE,
        blockMs: config.PROCESSOR_BLOCK_MS,
        claimIdleMs: config.PROCESSOR_CLAIM_IDLE_MS,
      },
      (entries) => this.handleBatch(entries),
      log,
    );
  }

  private async handleBatch(entries: StreamEntry[]): Promise<void> {
    const stop = this.batchSeconds.startTimer();
    const { positions, deadLetters } = sortBatch(entries);
    const stored = await insertPositions(this.db, positions);
    await writeDeadLetters(this.redis, this.config.DEAD_LETTER_STREAM, deadLetters);
    for (const letter of deadLetters) this.log.warn({ entry: letter.id, reason: letter.reason }, 'entry dead-lettered');
    this.received.inc(entries.length);
    this.stored.inc(stored);
    this.deadLettered.inc(deadLetters.length);
    stop();
  }

  async start(): Promise<void> {
    this.server = await serveMetrics(this.registry, this.config.METRICS_PORT, () => this.health());
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

  async health() {
    const [redis, db, group] = await Promise.all([
      this.redis.ping().then(() => true, () => false),
      this.db.raw('select 1').then(() => true, () => false),
      groupInfo(this.redis, this.config.REDIS_TELEMETRY_STREAM, PROCESSOR_GROUP),
    ]);
    return { ok: redis && db, redis, postgres: db, lag: group?.lag ?? null, pending: group?.pending ?? null };
  }

  /** Drains the batch in hand, then releases every connection; each step is tried even if one fails. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.consumer.close();
    const steps: [string, () => Promise<unknown>][] = [
      ['metrics server', () => new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)))],
      ['redis', () => this.redis.quit()],
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
