import type { FactCollection } from '../../domain/pipeline/fact-row.ts';
import type { Fact } from '../../domain/pipeline/facts.ts';

/** One delivery of apply mode; the runner posts it to `POST /pitwall/facts` with source `replay`. */
export interface ReplayBatch {
  upserts: Fact[];
  retractions: string[];
  removals: { collection: FactCollection; id: string }[];
  /** The snapshot the replay read in (see `snapshot` in fact-batch.ts). */
  snapshot?: string;
}

/** Facts and removals per request: Directus refuses request bodies over 1 MB by default (as the outbox courier). */
export const REPLAY_BATCH_SIZE = 300;

/**
 * Splits an apply plan into deliveries of at most `size` items, removals first: a row replaced by one of another id
 * (a moved crossing) is gone before its successor is written, so unique (entry, geofence, crossed_at) never clashes.
 */
export function replayBatches(plan: { upserts: readonly Fact[]; removals: readonly ReplayBatch['removals'][number][] }, size = REPLAY_BATCH_SIZE): ReplayBatch[] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`batch size must be a positive integer, got ${size}`);
  const items: ({ removal: ReplayBatch['removals'][number] } | { upsert: Fact })[] = [
    ...plan.removals.map((removal) => ({ removal })),
    ...plan.upserts.map((upsert) => ({ upsert })),
  ];
  const batches: ReplayBatch[] = [];
  for (let i = 0; i < items.length; i += size) {
    const batch: ReplayBatch = { upserts: [], retractions: [], removals: [] };
    for (const item of items.slice(i, i + size)) {
      if ('removal' in item) batch.removals.push(item.removal);
      else batch.upserts.push(item.upsert);
    }
    batches.push(batch);
  }
  return batches;
}
