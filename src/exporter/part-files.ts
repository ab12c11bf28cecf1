import { compareCursor } from '../stream/cursor.ts';

/**
 * Names of the exported Parquet files. A batch of stream entries is written as one file per fix date, each at
 * `date=<YYYY-MM-DD>/part-<first id>_<last id>.parquet`, where the ids are the first and last stream entry ids of the
 * whole batch. The name alone then says which entries a file may hold, and a restart can tell which batch a pending
 * entry already went to.
 */

/** The ids of a batch's first and last entries, in stream order. */
export interface IdRange {
  first: string;
  last: string;
}

const STREAM_ID = /^\d{1,20}-\d{1,20}$/;
const PART = /^part-(\d{1,20}-\d{1,20})_(\d{1,20}-\d{1,20})\.parquet$/;
const PARTITION = /^date=(\d{4}-\d{2}-\d{2})$/;
/** Parts are written under `<name>.tmp`, then renamed: readers globbing `*.parquet` never see a half-written file. */
export const TEMPORARY_SUFFIX = '.parquet.tmp';

export function partName({ first, last }: IdRange): string {
  if (!STREAM_ID.test(first) || !STREAM_ID.test(last)) throw new RangeError(`not stream entry ids: ${first}, ${last}`);
  return `part-${first}_${last}.parquet`;
}

/** The part's name while it is being written. */
export const temporaryPartName = (range: IdRange): string => partName(range) + '.tmp';

export const partitionName = (date: string): string => `date=${date}`;

/** The range a part file covers, or null for any other file name (temporary files included). */
export function rangeOfPart(fileName: string): IdRange | null {
  const match = PART.exec(fileName);
  return match ? { first: match[1]!, last: match[2]! } : null;
}

/** The date of a `date=YYYY-MM-DD` partition directory, or null. */
export function dateOfPartition(directoryName: string): string | null {
  return PARTITION.exec(directoryName)?.[1] ?? null;
}

/** The UTC date of a fix, the partition it is filed under. */
export const fixDate = (tsMs: number): string => new Date(tsMs).toISOString().slice(0, 10);

const DAY_MS = 86_400_000;

/** fixDate for fix after fix: consecutive fixes mostly share a day, whose text is then made once. */
export class FixDates {
  private day = Number.NaN;
  private text = '';

  of(tsMs: number): string {
    const day = Math.floor(tsMs / DAY_MS);
    if (day !== this.day) {
      this.day = day;
      this.text = fixDate(tsMs);
    }
    return this.text;
  }
}

export const rangeKey = ({ first, last }: IdRange): string => `${first}_${last}`;

export const inRange = (id: string, { first, last }: IdRange): boolean => compareCursor(first, id) <= 0 && compareCursor(id, last) <= 0;

/**
 * Which written batches exist, from the part files found: each batch's range with the dates it has files for. A batch
 * cut short by a crash has files for some of its dates only; the rest are written when its entries come back.
 */
export class WrittenBatches {
  private readonly batches = new Map<string, { range: IdRange; dates: Set<string> }>();
  /** Ranges in stream order, for finding the batch of an id. */
  private sorted: IdRange[] | null = [];
  private last: string | null = null;

  add(range: IdRange, date: string): void {
    const key = rangeKey(range);
    let batch = this.batches.get(key);
    if (!batch) {
      batch = { range, dates: new Set() };
      this.batches.set(key, batch);
      this.sorted = null;
      if (this.last === null || compareCursor(range.last, this.last) > 0) this.last = range.last;
    }
    batch.dates.add(date);
  }

  /** The id of the last entry of the newest written batch; null when none is. */
  get lastId(): string | null {
    return this.last;
  }

  has(range: IdRange, date: string): boolean {
    return this.batches.get(rangeKey(range))?.dates.has(date) ?? false;
  }

  /** The written batch whose range holds this id, if any. Batches never overlap: each starts after the last one ended. */
  batchOf(id: string): IdRange | null {
    this.sorted ??= [...this.batches.values()].map((b) => b.range).sort((a, b) => compareCursor(a.first, b.first));
    let lo = 0;
    let hi = this.sorted.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const range = this.sorted[mid]!;
      if (compareCursor(id, range.first) < 0) hi = mid - 1;
      else if (compareCursor(id, range.last) > 0) lo = mid + 1;
      else return range;
    }
    return null;
  }

  /** Forgets batches that ended before `id`: their entries are acknowledged and never come back. */
  forgetBefore(id: string): void {
    for (const [key, batch] of this.batches) {
      if (compareCursor(batch.range.last, id) < 0) {
        this.batches.delete(key);
        this.sorted = null;
      }
    }
  }

  get size(): number {
    return this.batches.size;
  }
}
