/**
 * What one read of the stream may bring, in bytes of its entries. Reads are asked for by count, which on trackers'
 * fixes (about a kilobyte) is a few megabytes; a backlog of 1,500 payloads of about a megabyte each took the
 * processor to 4.6 GB, and its batches so long that it lost its leases three times.
 */
export const READ_BYTES = 32 * 1024 * 1024;
/** Entries the first read asks for at most, before the size of the stream's entries is known. */
const FIRST_READ_COUNT = 200;

/**
 * The count to ask the next read for: `count`, but no more than `readBytes` of entries the size of `largestEntry`,
 * the largest of the recent reads (recentLargest; 0: no read yet, FIRST_READ_COUNT at most). The stream's entries
 * are alike in size as a rule: one much larger than the rest makes the reads after it small for a while.
 */
export function boundedReadCount(count: number, largestEntry: number, readBytes = READ_BYTES): number {
  const byBytes = largestEntry === 0 ? FIRST_READ_COUNT : Math.max(1, Math.floor(readBytes / largestEntry));
  return Math.min(count, byBytes);
}

/**
 * The entry size the next read is bounded by: the largest of the read just made, or half the size used before,
 * whichever is more. Halved rather than forgotten: a read of a few small entries between large ones brought the full
 * count back at once, and a tester's backlog alternated a read of 33 small entries with one of 1,500 large ones
 * (1.2 GB, 21 s, the shard leases lost each time, 33 entries stored in each round). Halving, the count doubles back.
 */
export const recentLargest = (before: number, largestOfRead: number): number => Math.max(largestOfRead, Math.floor(before / 2));

/** The size of an entry's field names and values (0 for an entry whose content was trimmed): bytes or characters. */
export function entrySize(flat: readonly { length: number }[] | null): number {
  let size = 0;
  if (flat) for (const part of flat) size += part.length;
  return size;
}
