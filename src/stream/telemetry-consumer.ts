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
 * Handles one batch. It must resolve only when every entry is durable (stored or dead-lettered):
 * the consumer acknowledges the whole batch right after, and redelivers it if the handler throws.
 */
export type BatchHandler = (entries: StreamEntry[]) => Promise<void>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A consumer-group loop over one stream: own pending entries first (after a crash), then stale entries of dead
 * consumers, then new entries. At-least-once: ack after the handler, so a kill between the two redelivers.
 */
export class TelemetryConsumer {
  private running: Promise<void> | null = null;
  private closing = false;
  private readonly batchSize: number;
  private readonly blockMs: number;
  private readonly claimIdleMs: number;
  private lastClaimAt = 0;
  /** Set when the last batch failed: read our own pending list again instead of new entries. */
  private retryPending = true;

  constructor(
    private readonly redis: Redis,
    private readonly options: ConsumerOptions,
    private readonly handle: BatchHandler,
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
        const entries = await this.nextBatch();
        if (entries.length === 0) continue;
        await this.handle(entries);
        await this.redis.xack(stream, group, ...entries.map((e) => e.id));
        backoff = 100;
      } catch (error) {
        this.retryPending = true;
        this.log.error({ err: error }, 'batch not processed; it stays pending and is retried');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  private async nextBatch(): Promise<StreamEntry[]> {
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
    return this.read('>', true);
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
