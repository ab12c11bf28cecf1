import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { planShards, type ShardPlan } from '../domain/sharding/plan-shards.ts';
import { shardOf } from '../domain/sharding/shard-of.ts';
import { unlessRedisDown } from './connection-report.ts';
import { ensureGroup, groupInfo, xinfoRecord, type GroupInfo } from './consumer-group.ts';
import { countEntriesAfter } from './count-entries.ts';
import { compareCursor } from './cursor.ts';
import { boundedReadCount, entrySize, recentLargest } from './read-count.ts';
import type { ShardLeases } from './shard-leases.ts';
import type { StreamEntry } from './stream-entry.ts';
import type { StagedBatchHandler } from './telemetry-consumer.ts';

export interface ShardedConsumerOptions {
  stream: string;
  /** The consumer group kept at the slowest shard's offset, so lag reads as before (CONTRACTS section 1). */
  group: string;
  shardCount: number;
  batchSize: number;
  blockMs: number;
  /** How often leases are renewed and the spread is checked. */
  rebalanceMs: number;
  /** Told of every read of the stream whether it found the stream's end (see BacklogPriority). */
  onRead?: (reachedEnd: boolean) => void;
  /** About the most bytes of entries one read brings (see boundedReadCount); READ_BYTES when not given. */
  readBytes?: number;
}

/** A batch was about to be committed by an instance whose leases were not renewed in time (it was paused). */
export class LeasesStale extends Error {
  constructor(sinceRenewalMs: number) {
    super(`shard leases last renewed ${sinceRenewalMs} ms ago, too long to be sure they are still held; the batch is rolled back and read again`);
    this.name = 'LeasesStale';
  }
}

/** What the consumer needs of the processor: the shard key of a tracker, and to drop the state of shards it lost. */
export interface ShardHost<P> extends StagedBatchHandler<P> {
  shardKey(deviceId: string): string;
  /**
   * The tracker's shard key before a recent change of it, while other instances may still route by it (see
   * Racing.formerShardKey); its holder goes on taking the tracker's entries meanwhile, so that none falls between.
   */
  formerShardKey?(deviceId: string): string | null;
  shardsLost(isLost: (shard: number) => boolean): Promise<void>;
}

interface Batch<P> {
  entries: StreamEntry[];
  /** The read returned fewer entries than it asked for: the stream had nothing more when it was read. */
  reachedEnd: boolean;
  /** The last stream id read for this batch: every owned shard has handed on all its entries up to here. */
  lastId: string;
  shards: number[];
  prepared: P | null;
}

/** An XREAD sent (see read): its reply, and the cursor, count and time it was sent with. */
interface SentRead {
  cursor: string;
  count: number;
  sentAt: number;
  reply: Promise<RawReply>;
}

type RawReply = [Buffer, [Buffer, Buffer[] | null][]][] | null;

interface Storing<P> {
  batch: Batch<P>;
  outcome: Promise<{ error: unknown; stored: boolean } | null>;
}

/** How often group `processor` is moved to the slowest shard (counting its lag reads up to 10,000 entries). */
const GROUP_SYNC_MS = 3000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A moment on both clocks: performance.now() and Date.now(). */
interface Instant {
  monotonic: number;
  wall: number;
}

const now = (): Instant => ({ monotonic: performance.now(), wall: Date.now() });

/** The later of two moments, on each clock. */
const later = (a: Instant, b: Instant): Instant => ({ monotonic: Math.max(a.monotonic, b.monotonic), wall: Math.max(a.wall, b.wall) });

const DEVICE_ID_FIELD = Buffer.from('device_id');

/** One field of an entry read as bytes ('' when absent). */
function fieldOf(flat: Buffer[], name: Buffer): string {
  for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i]!.equals(name)) return flat[i + 1]!.toString('utf8');
  return '';
}

function decodeFields(flat: Buffer[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!.toString('utf8')] = flat[i + 1]!.toString('utf8');
  return fields;
}

/** The id just before `id`, for an exclusive read that must include `id` itself. */
export function idBefore(id: string): string {
  const [ms, seq] = id.split('-').map((part) => BigInt(part)) as [bigint, bigint];
  if (seq > 0n) return `${ms}-${seq - 1n}`;
  return ms > 0n ? `${ms - 1n}-18446744073709551615` : '0-0';
}

/**
 * Each tracker handled by exactly one instance at a time, in stream order. Trackers are hashed onto a fixed number
 * of shards; instances hold shards through leases in Redis (ShardLeases) and spread them evenly and stickily
 * (planShards). Every instance reads the stream itself, in order, and takes the entries of the shards it holds;
 * each shard's progress is committed in Redis only while its lease is held, so an instance that takes a shard over
 * goes on from exactly where the last holder's stored work ended. At least once: a batch stored but not committed
 * (a crash in between) is read again by the next holder, which the writes' keys make harmless.
 */
export class ShardedConsumer<P> {
  readonly owned = new Set<number>();
  progressAt = Date.now();
  /**
   * A time by which every entry of the stream was handed to prepare: when the last read that found the stream's end
   * was sent (0 until one has). What the clock alone decides must not run ahead of it: fixes older than the clock may
   * still wait in the stream (after an outage, a restart, or this process being stopped for a while).
   */
  caughtUpAt = 0;
  /** Per held shard: the last stream id handed to prepare; a shard skips what it already handled. */
  private readonly handled = new Map<number, string>();
  /** Per held shard: the progress last committed (or found when the shard was taken). */
  private readonly committedAt = new Map<number, string>();
  private cursor = '0-0';
  private storing: Storing<P> | null = null;
  /** The read sent ahead of the next batch, if any (see read). */
  private ahead: SentRead | null = null;
  /** The largest entry of the recent reads, in bytes (0 before the first; see recentLargest): it bounds the next read. */
  private largestEntry = 0;
  private lost = new Set<number>();
  private closing = false;
  private running: Promise<void> | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private lastRebalance = -Infinity;
  /** The shard count the running processors use, while it differs from this one's (it then takes no shard); null otherwise. */
  shardCountConflict: number | null = null;
  /** Whether this process holds its instance name (claimIdentity); false while another process holds it. */
  holdsName = false;
  /** Entries found deleted from the stream before they were processed (checkTrimmedUnread). */
  trimmedUnread = 0;
  /** The loss said last: after which entry, and how many. */
  private reportedTrim: { after: string; lost: number } | null = null;
  private readonly nonce = randomUUID();
  private lastGroupSync = -Infinity;
  /** Counts changes of the shards held, so a renewal's answer about shards held before a change is not taken. */
  private holding = 0;
  /**
   * When the last renewal of every held lease was sent: none of them can run out before this + the lease time. On both
   * clocks (see sinceRenewal).
   */
  private renewedAt: Instant = { monotonic: -Infinity, wall: -Infinity };

  constructor(
    private readonly redis: Redis,
    private readonly leases: ShardLeases,
    private readonly options: ShardedConsumerOptions,
    private readonly host: ShardHost<P>,
    private readonly log: Logger,
  ) {}

  run(): Promise<void> {
    if (this.running) throw new Error('consumer is already running');
    this.running = this.loop();
    return this.running;
  }

  private async loop(): Promise<void> {
    const { stream, group, shardCount } = this.options;
    await this.ensureGroup();
    await this.claimIdentity();
    this.renewTimer = setInterval(() => void this.renew(), Math.max(100, Math.floor(this.leases.leaseMs / 3)));
    this.log.info({ stream, group, instance: this.leases.instanceId, shards: shardCount, leaseMs: this.leases.leaseMs }, 'consuming telemetry stream by shard');
    let backoff = 100;
    while (!this.closing) {
      try {
        if (this.owned.size > 0 && !this.leasesFresh()) {
          // Stopped for longer than a renewal (a paused process, a stalled machine): the shards may be another
          // instance's by now. Nothing is prepared or stored for them until Redis has said which are still held.
          await this.settle(null);
          await this.renew();
          if (!this.leasesFresh() && this.lost.size === 0) {
            await sleep(100);
            continue;
          }
        }
        if (this.lost.size > 0 || performance.now() - this.lastRebalance >= this.options.rebalanceMs) {
          // Looking costs no wait; changing what is held waits for the batch in flight to be committed first.
          const plan = await this.plan();
          if (this.lost.size > 0 || plan.acquire.length > 0 || plan.release.length > 0) {
            await this.settle(null);
            await this.rebalance(plan);
          }
          if (performance.now() - this.lastGroupSync >= GROUP_SYNC_MS) await this.syncGroup();
        }
        if (this.owned.size === 0) {
          this.progressAt = Date.now();
          await sleep(Math.min(this.options.rebalanceMs, 250));
          continue;
        }
        const idle = this.storing === null;
        const { batch, sentAt } = await this.read(idle);
        this.options.onRead?.(batch === null || batch.reachedEnd);
        if (batch === null) {
          this.caughtUpAt = sentAt;
          // Nothing new: wait for the batch in flight (its failure surfaces here), then read blocking.
          if (idle) this.progressAt = Date.now();
          else if (await this.settle(null)) backoff = 100;
          continue;
        }
        if (!this.leasesFresh()) {
          // The read may have waited out a pause: the entries go back, to be read again by whoever holds them now.
          await this.settle(null);
          this.rewind();
          continue;
        }
        if (batch.entries.length > 0) batch.prepared = await this.host.prepare(batch.entries);
        if (batch.reachedEnd) this.caughtUpAt = sentAt;
        if (await this.settle(batch)) backoff = 100;
        this.storing = this.store(batch);
      } catch (error) {
        await this.settle(null).catch((earlier) => this.log.error({ err: earlier }, 'batch not stored; it is read again'));
        this.rewind();
        if (error instanceof LeasesStale) this.log.warn({ err: error }, 'batch not committed after a pause; it is read again if its shards are still held');
        else this.log.error({ err: error }, 'batch not processed; it is read again');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
    await this.settle(null).catch((error) => this.log.error({ err: error }, 'last batch not stored; the next holder reads it again'));
  }

  /**
   * Whether the leases held were renewed recently enough that none can have run out and been taken by another
   * instance (a third of a lease to spare: renewals come every third).
   */
  leasesFresh(): boolean {
    return this.owned.size === 0 || this.sinceRenewal() < (this.leases.leaseMs * 2) / 3;
  }

  /**
   * How long ago the last renewal was sent, by the clock that says longer. By the monotonic clock, since a wall clock
   * set back (NTP) must not make old leases look fresh; by the wall clock too, since Redis times its keys out by it: on
   * a clock stepped forward, a Redis on this machine has let the leases run out already.
   */
  private sinceRenewal(): number {
    return Math.max(performance.now() - this.renewedAt.monotonic, Date.now() - this.renewedAt.wall);
  }

  /**
   * Rejects unless the held leases are sure: what is about to be committed may be for shards held elsewhere now.
   * Renewed too long ago, they are renewed now and the batch goes in if every one was still this instance's: a
   * process starved of CPU (niced for a backlog while Directus and Postgres are busy) can miss its renewals without
   * losing a lease, and rolling its batch back would only make it do the same work again, as starved.
   */
  async fence(): Promise<void> {
    if (this.leasesFresh()) return;
    const stale = this.sinceRenewal();
    const holding = this.holding;
    await this.renew();
    if (holding !== this.holding || this.lost.size > 0 || !this.leasesFresh()) throw new LeasesStale(stale);
  }

  /** Waits for this instance's name: after a crash, until the dead process's claim runs out. */
  private async claimIdentity(): Promise<void> {
    let warned = false;
    let countWarned = false;
    const { shardCount } = this.options;
    while (!this.closing) {
      try {
        // Before it joins: a member with another count would make the others hand back shards nobody takes.
        const other = await this.leases.claimShardCount(shardCount);
        if (other !== null) {
          if (!countWarned) {
            this.log.error(
              { shards: shardCount, running: other },
              `PROCESSOR_SHARDS is ${shardCount} here but ${other} for the processors running on this stream; it must be the same for all: this one takes no shard and waits (restart it with PROCESSOR_SHARDS=${other}, or stop all of them to change the count)`,
            );
          }
          countWarned = true;
          this.shardCountConflict = other;
        } else {
          this.shardCountConflict = null;
          if (await this.leases.claimIdentity(this.nonce)) {
            this.holdsName = true;
            return;
          }
          if (!warned) this.log.warn({ instance: this.leases.instanceId }, 'another process holds this PROCESSOR_CONSUMER name (or this one did before a restart); waiting for it');
          warned = true;
        }
      } catch (error) {
        this.log.warn({ err: error }, 'cannot reach Redis to claim the instance name; retrying');
      }
      await sleep(Math.min(1000, this.leases.leaseMs / 3));
    }
  }

  /** The oldest entry of the stream this instance has yet to store: the first after its slowest shard's progress. */
  async oldestWaiting(): Promise<string | null> {
    if (this.committedAt.size === 0) return null;
    let slowest: string | null = null;
    for (const id of this.committedAt.values()) if (slowest === null || compareCursor(id, slowest) < 0) slowest = id;
    const next = (await this.redis.xrange(this.options.stream, `(${slowest}`, '+', 'COUNT', 1)) as [string, string[]][];
    return next[0]?.[0] ?? null;
  }

  /** Group `processor` exists from the start (at the stream's beginning), so its lag shows what waits. */
  private async ensureGroup(): Promise<void> {
    for (let backoff = 100; !this.closing; backoff = Math.min(backoff * 2, 5000)) {
      try {
        await this.redis.xgroup('CREATE', this.options.stream, this.options.group, '0', 'MKSTREAM');
        return;
      } catch (error) {
        if (error instanceof Error && error.message.startsWith('BUSYGROUP')) return;
        this.log.warn({ err: error }, 'cannot create the consumer group yet; retrying');
        await sleep(backoff);
      }
    }
  }

  /** Keeps the name, membership and leases alive apart from the loop, so a long batch does not lose them. */
  private async renew(): Promise<void> {
    try {
      const sent = now();
      await this.heartbeat();
      const holding = this.holding;
      const lost = await this.leases.renew([...this.owned]);
      // Shards dropped and taken again meanwhile (after Redis lost every lease, say) are held now; an answer about
      // what was held before is not taken, not even as proof of freshness: the next renewal speaks for them.
      if (holding !== this.holding) return;
      for (const shard of lost) this.lost.add(shard);
      // The lost ones are dropped before anything else is done for them.
      this.renewedAt = sent;
    } catch (error) {
      this.log.warn({ err: error }, 'cannot renew shard leases');
    }
  }

  /** Renews this instance's name and membership; returns the live members. */
  private async heartbeat(): Promise<string[]> {
    const { members, reclaimed } = await this.leases.heartbeat(this.nonce, this.options.shardCount);
    // Its leases are gone too; renewing them says so, and the shards are taken again from their committed progress.
    if (reclaimed) this.log.warn({ instance: this.leases.instanceId }, 'this instance\'s name had run out in Redis (Redis restarted, or this process was stopped for longer than a lease); claimed it again');
    return members;
  }

  /** Renews membership and reads who holds what: the moves this instance should make now. */
  private async plan(): Promise<ShardPlan & { members: number }> {
    this.lastRebalance = performance.now();
    const { shardCount } = this.options;
    const members = await this.heartbeat();
    const plan = planShards({ shardCount, owners: await this.leases.owners(shardCount), members }, this.leases.instanceId);
    return { ...plan, members: members.length };
  }

  private async rebalance(plan: ShardPlan & { members: number }): Promise<void> {
    const { members } = plan;
    if (this.lost.size > 0) {
      const lost = new Set(this.lost);
      this.lost.clear();
      this.log.warn({ shards: [...lost] }, 'shard leases lost (not renewed in time, or Redis lost them); their trackers are dropped here and the shards taken again where free');
      await this.dropShards(lost);
    }
    if (plan.release.length > 0) {
      for (const shard of plan.release) await this.leases.release(shard);
      await this.dropShards(new Set(plan.release));
      this.log.info({ shards: plan.release, members }, 'handed shards back for an even spread');
    }
    const taken: number[] = [];
    /** Shards taken where their processing stands (not new ones, which start where the group stands). */
    const resumed: number[] = [];
    const acquiring = now();
    for (const shard of plan.acquire) {
      if (!(await this.leases.acquire(shard))) continue;
      this.holding++;
      const committed = await this.leases.committed(shard);
      if (committed !== null) resumed.push(shard);
      const from = committed ?? (await this.startOfNewShard());
      this.owned.add(shard);
      this.handled.set(shard, from);
      this.committedAt.set(shard, from);
      taken.push(shard);
    }
    // Every shard held was just taken (at the start, or after all were lost): their leases are as fresh as that.
    if (taken.length > 0 && taken.length === this.owned.size) this.renewedAt = later(this.renewedAt, acquiring);
    if (taken.length > 0) {
      this.cursor = this.lowestHandled();
      this.log.info({ shards: taken, held: [...this.owned].sort((a, b) => a - b), members }, 'took shards');
    }
    // A processor started again after the stream was trimmed ahead of it.
    if (resumed.length > 0) await this.checkTrimmedUnread().catch((error) => this.log.warn({ err: error }, 'could not check the stream for entries trimmed unread'));
  }

  private async dropShards(shards: Set<number>): Promise<void> {
    this.holding++;
    for (const shard of shards) {
      this.owned.delete(shard);
      this.handled.delete(shard);
      this.committedAt.delete(shard);
    }
    await this.host.shardsLost((shard) => shards.has(shard));
    this.cursor = this.owned.size > 0 ? this.lowestHandled() : this.cursor;
  }

  private lowestHandled(): string {
    let lowest: string | null = null;
    for (const id of this.handled.values()) if (lowest === null || compareCursor(id, lowest) < 0) lowest = id;
    return lowest ?? '0-0';
  }

  /**
   * Where a shard nobody ever committed starts: where the consumer group stands (an unsharded processor before this
   * version acknowledged up to there), before its oldest unacknowledged entry; the stream's start without a group.
   */
  private async startOfNewShard(): Promise<string> {
    const { stream, group } = this.options;
    try {
      const mine = await groupInfo(this.redis, stream, group);
      if (!mine) return '0-0';
      const pending = (await this.redis.xpending(stream, group)) as [number, string | null, string | null, unknown];
      const delivered = mine.lastDeliveredId;
      return pending[0] > 0 && pending[1] ? idBefore(pending[1]) : delivered;
    } catch {
      return '0-0';
    }
  }

  /**
   * Keeps group `processor` at the slowest shard, so XINFO GROUPS and the lag metrics read as they always did:
   * entries-read is given with the position (counted back from the stream's end), else Redis could not tell the lag.
   * Entries an unsharded processor of an earlier version left pending are acknowledged once every shard is past them.
   */
  private async syncGroup(): Promise<void> {
    this.lastGroupSync = performance.now();
    const { stream, group, shardCount } = this.options;
    const committed = await this.leases.allCommitted(shardCount);
    if (committed.some((id) => id === null)) return;
    let slowest = committed[0]!;
    for (const id of committed) if (compareCursor(id!, slowest) < 0) slowest = id!;
    // Read in this order, each figure no older than the one before: the group's lag, the entries after the slowest
    // shard, the stream's total. Entries a busy fleet adds meanwhile then make the lag read smaller than the entries
    // counted, never larger; the other way round they read as entries trimmed unread (an alarm for nothing lost).
    const standing = await groupInfo(this.redis, stream, group);
    const after = await this.countAfter(slowest, 10_000);
    const entriesAdded = Number(xinfoRecord(await this.redis.xinfo('STREAM', stream))['entries-added']);
    // Before the group is moved on: its entries-read is what tells how many entries came after it.
    if (standing?.lastDeliveredId === slowest) this.noteTrimmedUnread(standing, after);
    const setId = () =>
      after === null || !Number.isFinite(entriesAdded)
        ? this.redis.xgroup('SETID', stream, group, slowest)
        : this.redis.call('XGROUP', 'SETID', stream, group, slowest, 'ENTRIESREAD', Math.max(0, entriesAdded - after));
    try {
      await setId();
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOGROUP')) throw error;
      // Redis restarted without its data (the stream was made again by the trackers' next entries), or someone
      // destroyed the group: make it again where the shards stand.
      this.log.warn({ group, at: slowest }, 'consumer group is gone; creating it again');
      await ensureGroup(this.redis, stream, group, slowest);
      await setId();
    }
    const pending = (await this.redis.xpending(stream, group, '-', slowest, 1000)) as [string, ...unknown[]][];
    if (pending.length > 0) await this.redis.xack(stream, group, ...pending.map(([id]) => id));
  }

  /**
   * Says so when entries were deleted from the stream (XTRIM, MAXLEN) after the slowest shard's progress before they
   * were processed: they are lost for good. Without this, a stream trimmed ahead of a stopped processor lost half a
   * burst with no trace: no dead letter, no log, no metric. Group `processor` stands at the slowest shard's progress
   * with its entries-read (syncGroup), so Redis's lag counts every entry added after it, trimmed or not; those still
   * in the stream after it are counted here, after the lag is read. Checked when shards are taken where their
   * processing stands (a restart, a takeover) and while the slowest shard has not moved (syncGroup).
   */
  private async checkTrimmedUnread(): Promise<void> {
    const { stream, group } = this.options;
    const info = await groupInfo(this.redis, stream, group);
    if (!info || info.lag === null || info.lastDeliveredId === '0-0') return;
    this.noteTrimmedUnread(info, await this.countAfter(info.lastDeliveredId, 10_000));
  }

  /** The check of checkTrimmedUnread, with the entries after the group's position counted after its lag was read. */
  private noteTrimmedUnread(info: GroupInfo, count: number | null): void {
    if (info.lag === null || info.lastDeliveredId === '0-0') return;
    if (count === null || info.lag <= count) return;
    const lost = info.lag - count;
    // Checked again while the group stands still: only what more is found is counted and said.
    const before = this.reportedTrim?.after === info.lastDeliveredId ? this.reportedTrim.lost : 0;
    if (lost <= before) return;
    this.reportedTrim = { after: info.lastDeliveredId, lost };
    this.trimmedUnread += lost - before;
    this.log.error(
      { after: info.lastDeliveredId, lost },
      'entries were deleted from the stream (XTRIM or MAXLEN) before they were processed: their fixes are lost; trim only what every consumer group has read',
    );
  }

  /** How many entries the stream holds after `id`, or null when too many to count here (see countEntriesAfter). */
  private async countAfter(id: string, limit: number): Promise<number | null> {
    const { count, complete } = await countEntriesAfter(this.redis, this.options.stream, id, limit);
    return complete ? count : null;
  }

  /**
   * The next entries of the held shards after the cursor (null when the stream has nothing new), and when the read
   * that found them was sent. A read that came back full is followed at once by the next one (a backlog is
   * draining): Redis answers it while this batch is prepared, so the loop does not wait for it. A read sent ahead
   * for another cursor (the consumer rewound, or took a shard) is dropped.
   */
  private async read(block: boolean): Promise<{ batch: Batch<P> | null; sentAt: number }> {
    const { shardCount } = this.options;
    const ahead = this.ahead;
    this.ahead = null;
    const sent = ahead?.cursor === this.cursor ? ahead : this.send(this.cursor, this.readCount(), block);
    const reply = await sent.reply;
    if (!reply || reply.length === 0 || reply[0]![1].length === 0) return { batch: null, sentAt: sent.sentAt };
    const raw = reply[0]![1];
    const entries: StreamEntry[] = [];
    let largest = 0;
    for (const [idBytes, flat] of raw) {
      const id = idBytes.toString('latin1');
      largest = Math.max(largest, entrySize(flat));
      const deviceId = flat ? fieldOf(flat, DEVICE_ID_FIELD) : '';
      let handled = this.handled.get(shardOf(this.host.shardKey(deviceId), shardCount));
      if (handled === undefined) {
        const former = this.host.formerShardKey?.(deviceId);
        if (former) handled = this.handled.get(shardOf(former, shardCount));
      }
      if (handled === undefined || compareCursor(id, handled) <= 0) continue;
      entries.push({ id, fields: flat ? decodeFields(flat) : null });
    }
    const lastId = raw[raw.length - 1]![0].toString('latin1');
    const shards = [...this.owned];
    for (const shard of shards) if (compareCursor(lastId, this.handled.get(shard)!) > 0) this.handled.set(shard, lastId);
    this.cursor = lastId;
    this.largestEntry = recentLargest(this.largestEntry, largest);
    const reachedEnd = raw.length < sent.count;
    if (!reachedEnd) this.ahead = this.send(lastId, this.readCount(), false);
    return { batch: { entries, lastId, shards, prepared: null, reachedEnd }, sentAt: sent.sentAt };
  }

  /**
   * How many entries the next read asks for: about `batchSize` of this instance's shards (holding half the shards, it
   * reads twice as many), bounded by the size of the entries (boundedReadCount).
   */
  private readCount(): number {
    const { batchSize, shardCount, readBytes } = this.options;
    const byCount = Math.min(batchSize * Math.ceil(shardCount / Math.max(1, this.owned.size)), batchSize * 8);
    return boundedReadCount(byCount, this.largestEntry, readBytes);
  }

  /** Sends an XREAD after `cursor`; its failure is thrown where its reply is awaited, never left unhandled. */
  private send(cursor: string, count: number, block: boolean): SentRead {
    const args: (string | number)[] = ['COUNT', count];
    if (block) args.push('BLOCK', this.options.blockMs);
    args.push('STREAMS', this.options.stream, cursor);
    // As bytes: only the device id of every entry is decoded; the rest only for the entries of held shards (the
    // payload is most of an entry, and every instance reads every entry).
    const reply = (this.redis.xreadBuffer as (...a: (string | number)[]) => Promise<unknown>)(...args) as Promise<RawReply>;
    reply.catch(() => undefined);
    return { cursor, count, sentAt: Date.now(), reply };
  }

  /** Stores a prepared batch, then commits each held shard's progress; in the background of the next read. */
  private store(batch: Batch<P>): Storing<P> {
    const stored = batch.prepared === null ? Promise.resolve() : this.host.store(batch.prepared, () => this.fence());
    const outcome = stored.then(
      async () => {
        const kept = await this.leases.commitAll(batch.shards, batch.lastId);
        batch.shards.forEach((shard, i) => {
          if (kept[i]) {
            if (this.owned.has(shard)) this.committedAt.set(shard, batch.lastId);
          } else this.lost.add(shard);
        });
        this.progressAt = Date.now();
        return null;
      },
      (error: unknown) => ({ error, stored: false }),
    );
    return { batch, outcome: outcome.catch((error: unknown) => ({ error, stored: true })) };
  }

  /** Waits for the batch being stored; on failure the newer batch and it are undone, newest first, and it throws. */
  private async settle(newer: Batch<P> | null): Promise<boolean> {
    const storing = this.storing;
    this.storing = null;
    if (storing === null) return false;
    const failure = await storing.outcome;
    if (failure === null) return true;
    if (newer?.prepared) this.host.discard(newer.prepared);
    if (!failure.stored && storing.batch.prepared) this.host.discard(storing.batch.prepared);
    throw failure.error;
  }

  /** After a failure: every held shard goes back to its committed progress (kept here: Redis may be what failed). */
  private rewind(): void {
    for (const shard of this.owned) this.handled.set(shard, this.committedAt.get(shard)!);
    this.cursor = this.lowestHandled();
  }

  /** Stops after the batch in hand is stored and committed; its leases are handed back for others to take at once. */
  async close(): Promise<void> {
    this.closing = true;
    // Never run (its process could not start: its metrics port taken): no batch in hand, no shard, nothing to say.
    if (this.running === null) return;
    const ended = this.running.catch((error: unknown) => this.log.error({ err: error }, 'consumer loop ended with an error'));
    const finished = await unlessRedisDown(this.redis, ended);
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (!finished) {
      // Its batch cannot pass the commit fence without Redis anyway: it is read and stored again by whoever holds
      // the shards next, once their leases lapse.
      this.log.warn('Redis is unreachable: stopping without committing the batch in hand or handing the shards back');
      return;
    }
    for (const shard of this.owned) await this.leases.release(shard).catch(() => undefined);
    await this.leases.leave(this.nonce).catch(() => undefined);
  }
}
