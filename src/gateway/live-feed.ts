import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { unlessRedisDown } from '../stream/connection-report.ts';
import { groupInfo, xinfoRecord } from '../stream/consumer-group.ts';
import { toStreamEntries, type StreamEntry } from '../stream/stream-entry.ts';
import { compareCursor } from '../stream/cursor.ts';

export interface LiveFeedOptions {
  stream: string;
  /** `live-broadcast-{INSTANCE_ID}`: a group of its own, so every instance sees every position. */
  group: string;
  consumer: string;
  batchSize: number;
  blockMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Reads the stream through the instance's own consumer group, with NOACK: a broadcast needs no redelivery (a viewer
 * that missed something resumes with `since`), so nothing piles up in a pending list. `position` is the last entry
 * id handed on; every entry after it will be.
 */
export class LiveFeed {
  position = '0-0';
  /** When the feed last read the stream without an error (for /healthz). */
  progressAt = Date.now();
  private closing = false;
  private running: Promise<void> | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly options: LiveFeedOptions,
    private readonly onEntries: (entries: StreamEntry[]) => void,
    private readonly log: Logger,
  ) {}

  /**
   * Creates the group at the stream's end, or moves it there when this instance restarts under the same id: a new
   * viewer starts from a snapshot and a returning one resumes with `since`, so a backlog is of no use to anyone.
   */
  async start(): Promise<void> {
    await this.redis.xgroup('CREATE', this.options.stream, this.options.group, '$', 'MKSTREAM').catch(async (error: unknown) => {
      if (!(error instanceof Error) || !error.message.startsWith('BUSYGROUP')) throw error;
      await this.redis.xgroup('SETID', this.options.stream, this.options.group, '$');
    });
    await this.createGroup('$');
    this.log.info({ stream: this.options.stream, group: this.options.group, from: this.position }, 'broadcasting telemetry stream');
    this.running = this.loop();
  }

  private async createGroup(from: string): Promise<void> {
    const { stream, group } = this.options;
    try {
      await this.redis.xgroup('CREATE', stream, group, from, 'MKSTREAM');
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('BUSYGROUP')) throw error;
    }
    this.position = (await groupInfo(this.redis, stream, group))?.lastDeliveredId ?? '0-0';
  }

  private async loop(): Promise<void> {
    const { stream, group, consumer, batchSize, blockMs } = this.options;
    let backoff = 100;
    while (!this.closing) {
      try {
        const reply = (await (this.redis.xreadgroup as (...a: (string | number)[]) => Promise<unknown>)(
          'GROUP', group, consumer, 'COUNT', batchSize, 'BLOCK', blockMs, 'NOACK', 'STREAMS', stream, '>',
        )) as [string, [string, string[] | null][]][] | null;
        this.progressAt = Date.now();
        backoff = 100;
        if (!reply || reply.length === 0) continue;
        const entries = toStreamEntries(reply[0]![1]);
        if (entries.length === 0) continue;
        this.position = entries[entries.length - 1]!.id;
        this.onEntries(entries);
      } catch (error) {
        if (this.closing) break;
        if (error instanceof Error && error.message.startsWith('NOGROUP')) {
          // Redis restarted without its data, or the group was swept while this instance looked gone: carry on
          // from where this instance was, so viewers miss nothing that is still in the stream.
          this.log.warn({ group, from: this.position }, 'consumer group is gone; creating it again');
          const made = await this.createGroup(this.position).then(
            () => true,
            (e: unknown) => {
              this.log.warn({ err: e, retryInMs: backoff }, 'cannot create the group yet');
              return false;
            },
          );
          // Not made (Redis out of memory, an ACL): the next read fails at once, so wait as for any other failure.
          if (!made) {
            await sleep(backoff);
            backoff = Math.min(backoff * 2, 5000);
          }
          continue;
        }
        this.log.error({ err: error }, 'cannot read the telemetry stream; retrying');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    const ended = unlessRedisDown(this.redis, this.running ?? Promise.resolve());
    // A blocked XREADGROUP only returns at its timeout: disconnecting ends it now.
    this.redis.disconnect();
    await ended;
  }
}

/**
 * Whether a cursor can come from this stream as it is now. Not when Redis restarted without its data (or the stream
 * was deleted) since the viewer read it: then there is no stream, or one that never generated an id as high as the
 * cursor, or one that never lost an entry and yet starts after the cursor. What came between went with the old
 * stream, and only a snapshot can tell the viewer where the cars are. "0-0" (a cursor given while the stream was
 * empty) comes before every stream.
 */
function fromThisStream(since: string, info: Record<string, unknown> | null): boolean {
  if (compareCursor(since, '0-0') === 0) return true;
  if (info === null) return false;
  if (compareCursor(since, String(info['last-generated-id'] ?? '0-0')) > 0) return false;
  const first = Array.isArray(info['first-entry']) ? String(info['first-entry'][0]) : null;
  const neverLostAny = info['entries-added'] !== undefined && Number(info['entries-added']) === Number(info['length']);
  return !(first !== null && neverLostAny && compareCursor(since, first) < 0);
}

/**
 * What a resume finds: what the caller kept of the entries after `since` up to `until`, or why there is nothing to
 * resume from: some of them are no longer kept (`trimmed`), more than the resume may read came after `since`, or
 * `since` is ahead of the newest entry the stream ever had (`ahead`: a cursor of another stream, or of a Redis that
 * lost its data since).
 */
export type Resume<T> = { ok: true; kept: T[] } | { ok: false; reason: 'trimmed' | 'too-far' | 'ahead' };

/**
 * The entries in (since, until], read in pages and handed to `keep` one by one: only what it returns is held, so a
 * resume holds the viewer's topic, not the whole stream. A gap when the stream has dropped an entry after `since`
 * (trimmed by MAXLEN or deleted): Redis 7 keeps the highest deleted id, which is exact where comparing with the first
 * id is not. `too-far` once more than `maxEntries` entries came after `since`: a cursor from long ago (or "0-0")
 * would otherwise have the gateway read the whole stream for one viewer, and a snapshot says the same for a map.
 */
export async function readSince<T>(
  redis: Redis,
  stream: string,
  since: string,
  until: string,
  keep: (entry: StreamEntry) => T | null,
  { pageSize = 1000, maxEntries }: { pageSize?: number; maxEntries: number },
): Promise<Resume<T>> {
  let info: Record<string, unknown> | null = null;
  try {
    info = xinfoRecord(await redis.xinfo('STREAM', stream));
  } catch (error) {
    if (!(error instanceof Error) || !/no such key/i.test(error.message)) throw error;
  }
  if (info !== null && compareCursor(since, String(info['last-generated-id'] ?? '0-0')) > 0) return { ok: false, reason: 'ahead' };
  if (compareCursor(since, String(info?.['max-deleted-entry-id'] ?? '0-0')) < 0 || !fromThisStream(since, info)) return { ok: false, reason: 'trimmed' };
  const kept: T[] = [];
  let read = 0;
  let from = `(${since}`;
  while (compareCursor(since, until) < 0) {
    const count = Math.min(pageSize, maxEntries + 1 - read);
    const page = toStreamEntries((await redis.xrange(stream, from, until, 'COUNT', count)) as [string, string[]][]);
    read += page.length;
    if (read > maxEntries) return { ok: false, reason: 'too-far' };
    for (const entry of page) {
      const item = keep(entry);
      if (item !== null) kept.push(item);
    }
    if (page.length < count) break;
    from = `(${page[page.length - 1]!.id}`;
  }
  return { ok: true, kept };
}
