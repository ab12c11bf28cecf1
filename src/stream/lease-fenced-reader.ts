import { Redis } from 'ioredis';
import type { RawEntry } from './stream-entry.ts';

/** What a fenced read returns when the lease is not the reader's. */
export const LEASE_NOT_HELD = Symbol('lease not held');

const CHECK_AGAIN = Symbol('check again');

/** One consumer group's read: XREADGROUP GROUP group consumer COUNT count STREAMS stream from. */
export interface GroupRead {
  group: string;
  consumer: string;
  count: number;
  stream: string;
  /** `>` for new entries, an id for the consumer's own pending ones after it. */
  from: string;
}

/**
 * XREADGROUP only while a lease in Redis holds this reader's value, checked by Redis in the same step: the lease is
 * WATCHed and read, and the entries are read inside MULTI, so EXEC does nothing if the lease was renewed, lost or
 * taken in between (then the check runs again). A Lua script did this in one call, but Redis turned every entry into
 * Lua values and back, which cost it about three times the CPU of the read itself (docs/performance.md).
 *
 * The connection is the reader's alone: a WATCH belongs to a connection, so no other command may run on it, and no
 * command may be queued while it is down or resent on the next one, where the WATCH is gone. A read cut off by an
 * outage waits for Redis and starts again from the check.
 */
export class LeaseFencedReader {
  private readonly redis: Redis;
  /** Counts the connections made: a WATCH made on an earlier one guards nothing. */
  private connection = 0;
  /** The lease as the last check found it, WATCHed since on connection `connection`. */
  private check: { connection: number; holder: string | null } | null = null;
  /** The read in progress: reads run one at a time, as the connection's WATCH allows. */
  private reading: Promise<unknown> = Promise.resolve();
  /** Fails the commands in flight when their connection closes (see `sent`). */
  private cutOff: ((error: Error) => void) | null = null;

  constructor(
    url: string,
    private readonly leaseKey: string,
    private readonly holder: string,
  ) {
    this.redis = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true, enableOfflineQueue: false, autoResendUnfulfilledCommands: false });
    this.redis.on('ready', () => (this.connection += 1));
    this.redis.on('close', () => this.cutOff?.(new Error('Redis connection closed before the read was answered')));
    // Its failures reach the caller through the reads; the owner's main connection reports the outage.
    this.redis.on('error', () => undefined);
  }

  connect(): Promise<void> {
    return this.redis.connect();
  }

  /** The entries read (id and fields, null for an entry trimmed from the stream), or LEASE_NOT_HELD. */
  read(request: GroupRead): Promise<RawEntry[] | typeof LEASE_NOT_HELD> {
    const read = this.reading.then(() => this.readNow(request));
    this.reading = read.catch(() => undefined);
    return read;
  }

  private async readNow(request: GroupRead): Promise<RawEntry[] | typeof LEASE_NOT_HELD> {
    for (;;) {
      const connection = this.connection;
      try {
        const read = await this.fencedRead(request, connection);
        if (read !== CHECK_AGAIN) return read;
      } catch (error) {
        // Cut off by a lost connection: wait for the next one, as the owner's other commands do, and check again.
        if (this.redis.status === 'end') throw error;
        if (this.redis.status !== 'ready') await new Promise((resolve) => this.redis.once('ready', resolve));
        else if (connection === this.connection) throw error;
      }
    }
  }

  /**
   * One try: CHECK_AGAIN when the lease changed since it was checked, or the check was made on an earlier connection.
   * The check for the next read rides with this one (WATCH and GET after EXEC), so a read right after another is one
   * round trip, sent at once: Redis gets it ready while the caller is busy with the entries before.
   */
  private async fencedRead({ group, consumer, count, stream, from }: GroupRead, connection: number): Promise<RawEntry[] | typeof LEASE_NOT_HELD | typeof CHECK_AGAIN> {
    let check = this.check;
    this.check = null;
    if (check?.connection !== connection) {
      const [watched, held] = (await this.sent(this.redis.pipeline().watch(this.leaseKey).get(this.leaseKey).exec()))!;
      const failure = watched![0] ?? held![0];
      if (failure) throw failure;
      check = { connection, holder: held![1] as string | null };
    }
    if (check.holder !== this.holder) {
      await this.sent(this.redis.unwatch());
      return LEASE_NOT_HELD;
    }
    if (connection !== this.connection) return CHECK_AGAIN;
    // A transaction inside a pipeline, as ioredis documents it (its typings only lack `multi` on a pipeline).
    const replies = (await this.sent(
      this.redis
        .pipeline([['multi'], ['xreadgroup', 'GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, from], ['exec'], ['watch', this.leaseKey], ['get', this.leaseKey]])
        .exec(),
    ))!;
    const [done, watched, held] = replies.slice(-3) as [[Error | null, unknown[] | null], [Error | null], [Error | null, string | null]];
    if (!watched[0] && !held[0]) this.check = { connection, holder: held[1] };
    if (done[0]) throw done[0];
    // EXEC did nothing: the lease was renewed, lost or taken after the check.
    if (done[1] === null) return CHECK_AGAIN;
    const reply = done[1][0];
    if (reply instanceof Error) throw reply;
    return (reply as [stream: string, entries: RawEntry[]][] | null)?.[0]?.[1] ?? [];
  }

  /**
   * The reply to commands sent, or a failure when their connection closes first: ioredis neither resends nor settles
   * the commands a closed connection left unanswered when resending is off (they would wait for good).
   */
  private async sent<T>(commands: Promise<T>): Promise<T> {
    const closed = new Promise<never>((_, reject) => (this.cutOff = reject));
    try {
      return await Promise.race([commands, closed]);
    } finally {
      this.cutOff = null;
    }
  }

  disconnect(): void {
    this.redis.disconnect();
  }
}
