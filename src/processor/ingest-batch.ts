import { parseStreamEntry } from '../domain/parse-stream-entry.ts';
import type { Position } from '../domain/position.ts';
import type { DeadLetter } from '../stream/dead-letter.ts';
import type { StreamEntry } from '../stream/stream-entry.ts';

export interface SortedBatch {
  positions: Position[];
  deadLetters: DeadLetter[];
}

/** Splits a batch into positions to store and entries to dead-letter, each with its reason. */
export function sortBatch(entries: readonly StreamEntry[]): SortedBatch {
  const positions: Position[] = [];
  const deadLetters: DeadLetter[] = [];
  for (const entry of entries) {
    if (!entry.fields) {
      deadLetters.push({ id: entry.id, reason: 'entry content was trimmed from the stream before it was processed', fields: null });
      continue;
    }
    const parsed = parseStreamEntry(entry.fields);
    if (parsed.ok) positions.push(parsed.position);
    else deadLetters.push({ id: entry.id, reason: parsed.reason, fields: entry.fields });
  }
  return { positions, deadLetters };
}
