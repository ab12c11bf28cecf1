import { parseStreamEntry } from '../domain/parse-stream-entry.ts';
import type { Position } from '../domain/position.ts';
import type { EntryWrite } from '../store/live-batch.ts';
import type { DecodedAttributesRow } from '../store/decoded-attributes.ts';
import { fixKey } from '../store/positions.ts';
import type { DeadLetter } from '../stream/dead-letter.ts';
import type { StreamEntry } from '../stream/stream-entry.ts';

export interface SortedBatch {
  positions: Position[];
  /** The stream entry of each position (same index), to dead-letter it if the database refuses its rows. */
  sources: StreamEntry[];
  deadLetters: DeadLetter[];
}

export interface SortOptions {
  /** The processor's clock, epoch ms. */
  now: number;
  /** A fix dated more than this ahead of `now` is dead-lettered (MAX_FUTURE_SKEW_MS). */
  maxFutureSkewMs: number;
}

/**
 * Splits a batch into positions to store and entries to dead-letter, each with its reason. A fix from the future is
 * refused here, before any pipeline sees it: one tracker with a wrong clock would otherwise become its device's
 * newest fix and turn every true fix after it into late data.
 */
export function sortBatch(entries: readonly StreamEntry[], { now, maxFutureSkewMs }: SortOptions): SortedBatch {
  const positions: Position[] = [];
  const sources: StreamEntry[] = [];
  const deadLetters: DeadLetter[] = [];
  for (const entry of entries) {
    if (!entry.fields) {
      deadLetters.push({ id: entry.id, category: 'trimmed', reason: 'entry content was trimmed from the stream before it was processed', fields: null });
      continue;
    }
    const parsed = parseStreamEntry(entry.fields);
    if (!parsed.ok) {
      deadLetters.push({ id: entry.id, category: 'malformed', reason: parsed.reason, fields: entry.fields });
      continue;
    }
    const ahead = parsed.position.ts - now;
    if (ahead > maxFutureSkewMs) {
      const reason =
        `payload.timestamp: ${new Date(parsed.position.ts).toISOString()} is ${ahead} ms ahead of the processor's clock ` +
        `(${new Date(now).toISOString()}), more than MAX_FUTURE_SKEW_MS (${maxFutureSkewMs})`;
      deadLetters.push({ id: entry.id, category: 'future', reason, fields: entry.fields });
      continue;
    }
    positions.push(parsed.position);
    sources.push(entry);
  }
  return { positions, sources, deadLetters };
}

/**
 * The rows of each entry, for storing them entry by entry when the database refuses the batch: each position with
 * the decoded attributes made from it, matched on (device, time). Decoding may skip positions (a device without a
 * mapping), never invent one; a row matching no position would still be kept, with the last entry of its key.
 */
export function entryWrites(sources: readonly StreamEntry[], positions: readonly Position[], decoded: readonly DecodedAttributesRow[]): EntryWrite[] {
  const writes: EntryWrite[] = positions.map((position, i) => ({ id: sources[i]!.id, positions: [position], decoded: [] }));
  const byKey = new Map<string, EntryWrite[]>();
  for (const write of writes) {
    const key = fixKey(write.positions[0]!);
    const list = byKey.get(key) ?? [];
    list.push(write);
    byKey.set(key, list);
  }
  for (const row of decoded) {
    const list = byKey.get(fixKey(row));
    const write = list?.find((w) => w.decoded.length === 0) ?? list?.at(-1);
    if (write) write.decoded.push(row);
    else writes.push({ id: null, positions: [], decoded: [row] });
  }
  return writes;
}
