import type { FactChanges } from '../domain/pipeline/device-pipeline.ts';

/** What a facts request may hold: the outbox's retractions and upserts, and replay's removals too. */
interface Splittable extends FactChanges {
  batch: string;
  removals?: readonly Removal[];
}
type Removal = { collection: string; id: string };

/**
 * A request Directus found too large (the outbox's, or a replay batch), as two of half the facts each, sent in
 * order: deletions (retractions, removals) stay ahead of upserts, so a row replaced by one of another id is gone
 * before its successor is written. Null when it holds one fact.
 */
export function halves<R extends Splittable>(request: R): [R, R] | null {
  const facts = [
    ...request.retractions.map((key) => ({ key })),
    ...(request.removals ?? []).map((removal) => ({ removal })),
    ...request.upserts.map((fact) => ({ fact })),
  ];
  if (facts.length < 2) return null;
  const middle = Math.ceil(facts.length / 2);
  const half = (items: typeof facts, suffix: string): R => ({
    ...request,
    batch: `${request.batch}.${suffix}`,
    retractions: items.flatMap((item) => ('key' in item ? [item.key] : [])),
    ...(request.removals ? { removals: items.flatMap((item) => ('removal' in item ? [item.removal] : [])) } : {}),
    upserts: items.flatMap((item) => ('fact' in item ? [item.fact] : [])),
  });
  return [half(facts.slice(0, middle), 'a'), half(facts.slice(middle), 'b')];
}
