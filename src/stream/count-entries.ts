import type { Redis } from 'ioredis';
import { boundedReadCount, entrySize } from './read-count.ts';

/** Bytes one page of the count may bring, and all its pages together, before it stops. */
const PAGE_BYTES = 4 * 1024 * 1024;
const COUNT_BYTES = 16 * 1024 * 1024;
/** The first page, before the size of the stream's entries is known: small, as the entries may be a megabyte each. */
const FIRST_PAGE = 20;
const MAX_PAGE = 1000;

/**
 * The entries of `stream` after `id`, counted: `complete` false when the count stopped at `limit` entries or at
 * COUNT_BYTES of entries read. Redis has no command that counts a range of a stream, so the entries are read (XRANGE)
 * and thrown away; paging them by their size keeps that cheap: a backlog of entries of a megabyte, counted a
 * thousand at a time, moved a gigabyte a page and stopped the processor for good.
 */
export async function countEntriesAfter(redis: Redis, stream: string, id: string, limit: number): Promise<{ count: number; complete: boolean }> {
  let count = 0;
  let read = 0;
  let page = Math.min(FIRST_PAGE, limit);
  let from = `(${id}`;
  for (;;) {
    const entries = (await redis.xrangeBuffer(stream, from, '+', 'COUNT', page)) as [Buffer, Buffer[]][];
    count += entries.length;
    if (entries.length < page) return { count, complete: true };
    if (count >= limit) return { count, complete: false };
    let largest = 0;
    for (const [, flat] of entries) {
      const size = entrySize(flat);
      read += size;
      largest = Math.max(largest, size);
    }
    if (read >= COUNT_BYTES) return { count, complete: false };
    page = Math.min(boundedReadCount(MAX_PAGE, largest, PAGE_BYTES), limit - count);
    from = `(${entries.at(-1)![0].toString('latin1')}`;
  }
}
