import type { Fact } from '../../domain/pipeline/facts.ts';
import { countedCrossings, isStopwatchTime, resultOnCrossings, type StoredCrossing } from '../../domain/timing/result-from-crossings.ts';
import type { FactRecord } from './fact-records.ts';
import { runKey } from './fact-scope.ts';
import { fastFactId } from './fast-fact-id.ts';

const isTimed = (kind: unknown): kind is 'start' | 'finish' => kind === 'start' || kind === 'finish';

/**
 * The replayed facts as the endpoint will apply them where the officials corrected crossings by hand (see
 * FactRecord.official): a replayed crossing they corrected is left out (theirs stands), and so is a replayed start or
 * finish of an entry in a stage whose start or finish they corrected (theirs is that start or finish; a replay after
 * the line was moved times it elsewhere, under another id), unless theirs is a stopwatch time (isStopwatchTime): the
 * tracker's own is then kept beside it, counting only once the stopwatch time is deleted; the results of an entry
 * in a stage with such a crossing, or whose replayed start or finish the officials moved to another car, are timed
 * from the crossings as they will stand, the officials' and the replayed ones (resultOnCrossings). So a preview shows
 * what applying it does.
 */
export function withOfficialCrossings(replayed: readonly Fact[], stored: readonly FactRecord[]): Fact[] {
  const official = stored.filter((record) => record.official);
  if (official.length === 0) return [...replayed];
  const officialIds = new Set(official.map((record) => record.id));
  const officialKinds = new Set(official.filter((record) => !isStopwatchTime(record.row['speed_kmh'])).map((record) => `${runKey(record.entry, record.stage)}:${record.row['kind']}`));
  // The finish the officials set, by entry and stage: a replayed split after it is left out, as the endpoint does.
  const officialFinish = new Map(official.filter((record) => record.row['kind'] === 'finish').map((record) => [runKey(record.entry, record.stage), Date.parse(String(record.row['crossed_at']))]));
  const splitAfterFinish = (fact: Extract<Fact, { type: 'crossing' }>) => fact.kind === 'split' && fact.crossedAt > (officialFinish.get(runKey(fact.entryId, fact.stageId)) ?? Number.POSITIVE_INFINITY);
  const theirs = (fact: Fact) =>
    fact.type === 'crossing' &&
    (officialIds.has(fastFactId(fact.key)) || (isTimed(fact.kind) && officialKinds.has(`${runKey(fact.entryId, fact.stageId)}:${fact.kind}`)) || splitAfterFinish(fact));
  const kept = replayed.filter((fact) => !theirs(fact));
  // A replayed start or finish the officials moved to another car (trackers swapped): no longer its entry's passage.
  const officialById = new Map(official.map((record) => [record.id, record]));
  const taken = new Map<string, Set<'start' | 'finish'>>();
  for (const fact of replayed) {
    if (fact.type !== 'crossing' || !isTimed(fact.kind)) continue;
    const record = officialById.get(fastFactId(fact.key));
    if (!record || record.entry === fact.entryId) continue;
    const key = runKey(fact.entryId, fact.stageId);
    taken.set(key, (taken.get(key) ?? new Set()).add(fact.kind));
  }
  const crossingsOf = new Map<string, StoredCrossing[]>([...official.map((record) => runKey(record.entry, record.stage)), ...taken.keys()].map((key) => [key, []]));
  const add = (key: string, kind: unknown, crossedAt: number, corrected: boolean) => {
    if (isTimed(kind)) crossingsOf.get(key)?.push({ kind, crossedAt, corrected });
  };
  for (const record of official) add(runKey(record.entry, record.stage), record.row['kind'], Date.parse(String(record.row['crossed_at'])), true);
  for (const fact of kept) if (fact.type === 'crossing') add(runKey(fact.entryId, fact.stageId), fact.kind, fact.crossedAt, false);
  return kept.map((fact) => {
    const crossings = fact.type === 'stage_result' ? crossingsOf.get(runKey(fact.entryId, fact.stageId)) : undefined;
    return fact.type === 'stage_result' && crossings ? (resultOnCrossings(fact, countedCrossings(crossings), taken.get(runKey(fact.entryId, fact.stageId))) ?? fact) : fact;
  });
}
