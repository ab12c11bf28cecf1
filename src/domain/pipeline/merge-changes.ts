import type { FactChanges } from './device-pipeline.ts';
import type { Fact } from './facts.ts';

/** Merges changes in order: a later upsert of a key wins over an earlier retraction, and the other way round. */
export function mergeChanges(batches: readonly FactChanges[]): FactChanges {
  const upserts = new Map<string, Fact>();
  const retractions = new Set<string>();
  for (const { upserts: u, retractions: r } of batches) {
    for (const key of r) {
      upserts.delete(key);
      retractions.add(key);
    }
    for (const fact of u) {
      upserts.set(fact.key, fact);
      retractions.delete(fact.key);
    }
  }
  return { upserts: [...upserts.values()], retractions: [...retractions] };
}
