import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ensureGroup } from './consumer-group.ts';
import { toStreamEntries, type StreamEntry } from './stream-entry.ts';

export interface ConsumerOptions {
  stream: string;
  group: string;
  consumer: string;
  batchSize?: number;
  blockMs?: number;
  /** Entries another consumer has held this long without acking are taken over (that consumer is presumed dead). */
  claimIdleMs?: number;
  /** Where the group starts reading when it is created. */
  startId?: string;
}

/**
 * A batch handled in two steps, so that the next batch is read and prepared while this one is being stored: the
 * CPU work of one batch then overlaps the database work of the one before. Batches are prepared in stream order,
 * and stored (then acknowledged) one at a time in that same order.
 */
/** Resolves when what is about to be committed may be; rejects (the batch is rolled back) when not. */
export type Fence = () => Promise<void>;

export interface StagedBatchHandler<P> {
  /** The work that makes nothing durable (checking, timing, decoding). Must leave no trace when it throws. */
  prepare(entries: StreamEntry[]): Promise<P>;
  /**
   * Makes a prepared batch durable; the consumer acknowledges it right after. `fence`, when given, is awaited just
   * before the batch is committed and rejects when it must not be any more (the shards it belongs to may be
   * another instance's by now): the batch is then rolled back and read again.
   */
  store(prepared: P, fence?: Fence): Promise<void>;
  /**
   * The batch will be delivered again instead of stored (its own store or an earlier batch's failed): undo what
   * prepare did. Called newest batch first, so each undo finds the state its prepare left.
   */
  discard(prepared: P): void;
}

interface Prepared<P> {
  entries: StreamEntry[];
  prepared: P;
}

/** A batch being stored and acknowledged; `outcome` never rejects, so no failure goes unobserved. */
interface Storing<P> {
  batch: Prepared<P>;
  outcome: Promise<{ error: unknown; stored: boolean } | null>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A consumer-group loop over one stream: own pending entries first (after a crash), then stale entries of dead
 * consumers, then new entries. At-least-once: ack after the handler, so a kill between the two redelivers.
 */
export class TelemetryConsumer<P> {
  private running: Promise<void> | null = null;
  private storing: Storing<P> | null = null;
  private closing = false;
  private readonly batchSize: number;
  private readonly blockMs: number;
  private readonly claimIdleMs: number;
  private lastClaimAt = 0;
  /** Set when the last batch failed: read our own pending list again instead of new entries. */
  private retryPending = true;
  /**
   * When the consumer last made progress: acknowledged a batch, or found nothing new with nothing in hand. Health
   * checks compare it with the entries waiting: waiting entries and no progress for long is a stall.
   */
  progressAt = Date.now();

  constructor(
    private readonly redis: Redis,
    private readonly options: ConsumerOptions,
    private readonly stage: StagedBatchHandler<P>,
    private readonly log: Logger,
  ) {
    this.batchSize = options.batchSize ?? 1000;
    this.blockMs = options.blockMs ?? 1000;
    this.claimIdleMs = options.claimIdleMs ?? 60_000;
  }

  run(): Promise<void> {
    if (this.running) throw new Error('consumer is already running');
    this.running = this.loop();
    return this.running;
  }

  private async loop(): Promise<void> {
    const { stream, group, consumer } = this.options;
    let backoff = 100;
    while (!this.closing) {
      try {
        await ensureGroup(this.redis, stream, group, this.options.startId);
        break;
      } catch (error) {
        this.log.warn({ err: error }, 'cannot create consumer group yet; retrying');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
    this.log.info({ stream, group, consumer }, 'consuming telemetry stream');
    backoff = 100;
    while (!this.closing) {
      try {
        // Our pending list is read from its start, which still holds the batch in flight: let that finish first.
        if (this.retryPending && (await this.settle(null))) backoff = 100;
        // While a batch is being stored, only take what is already there: a blocking read would hold the
        // connection, and with it that batch's acknowledgement, until new entries come.
        const idle = this.storing === null;
        const entries = await this.nextBatch(idle);
        if (entries.length === 0 && idle) this.progressAt = Date.now();
        const batch = entries.length === 0 ? null : { entries, prepared: await this.stage.prepare(entries) };
        if (await this.settle(batch)) backoff = 100;
        if (batch) this.storing = this.store(batch);
      } catch (error) {
        await this.settle(null).catch((earlier) => this.log.error({ err: earlier }, 'batch not stored; it stays pending and is retried'));
        this.retryPending = true;
        this.log.error({ err: error }, 'batch not processed; it stays pending and is retried');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
    await this.settle(null).catch((error) => this.log.error({ err: error }, 'last batch not processed; it stays pending'));
  }

  /** Stores and then acknowledges one prepared batch, in the background of the next read and prepare. */
  private store(batch: Prepared<P>): Storing<P> {
    const { stream, group } = this.options;
    const outcome = this.stage.store(batch.prepared).then(
      () =>
        this.redis.xack(stream, group, ...batch.entries.map((e) => e.id)).then(
          () => {
            this.progressAt = Date.now();
            return null;
          },
          (error: unknown) => ({ error, stored: true }),
        ),
      (error: unknown) => ({ error, stored: false }),
    );
    return { batch, outcome };
  }

  /**
   * Waits for the batch being stored. When it failed, the newer batch prepared on top of it (if any) and then the
   * failed batch itself are discarded, newest first, and the failure is thrown: both stay pending and come back.
   * Returns whether a batch was stored and acknowledged.
   */
  private async settle(newer: Prepared<P> | null): Promise<boolean> {
    const storing = this.storing;
    this.storing = null;
    if (storing === null) return false;
    const failure = await storing.outcome;
    if (failure === null) return true;
    if (newer) this.stage.discard(newer.prepared);
    // Stored but not acknowledged: its effects are durable, so its state stays; the redelivery is a resend.
    if (!failure.stored) this.stage.discard(storing.batch.prepared);
    throw failure.error;
  }

  private async nextBatch(block: boolean): Promise<StreamEntry[]> {
    const { stream, group, consumer } = this.options;
    if (this.retryPending) {
      const pending = await this.read('0', false);
      if (pending.length > 0) return pending;
      this.retryPending = false;
    }
    if (Date.now() - this.lastClaimAt >= Math.min(this.claimIdleMs, 10_000)) {
      this.lastClaimAt = Date.now();
      const claimed = (await this.redis.xautoclaim(stream, group, consumer, this.claimIdleMs, '0', 'COUNT', this.batchSize)) as [
        string,
        [string, string[] | null][],
        string[]?,
      ];
      const entries = toStreamEntries(claimed[1]);
      if (entries.length > 0) {
        this.log.warn({ count: entries.length }, 'took over stale entries of a dead consumer');
        return entries;
      }
    }
    return this.read('>', block);
  }

  private async read(from: string, block: boolean): Promise<StreamEntry[]> {
    const { stream, group, consumer } = this.options;
    const args: (string | number)[] = ['GROUP', group, consumer, 'COUNT', this.batchSize];
    if (block) args.push('BLOCK', this.blockMs);
    args.push('STREAMS', stream, from);
    const reply = (await (this.redis.xreadgroup as (...a: (string | number)[]) => Promise<unknown>)(...args)) as
      | [string, [string, string[] | null][]][]
      | null;
    if (!reply || reply.length === 0) return [];
    return toStreamEntries(reply[0]![1]);
  }

  /** Stops after the batch in hand is handled and acknowledged. Safe to call twice. */
  async close(): Promise<void> {
    this.closing = true;
    try {
      await this.running;
    } catch (error) {
      this.log.error({ err: error }, 'consumer loop ended with an error');
    }
  }
}
