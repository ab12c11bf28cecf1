import type { FactChanges } from '../pipeline/device-pipeline.ts';
import type { Fact } from '../pipeline/facts.ts';

/** Whom a fact is about: one tracker (crossings, anomalies), or an entry (results, penalties), named by its key. */
type Subject = { deviceId: string } | { entryId: string };

function subjectOfFact(fact: Fact): Subject {
  return fact.type === 'crossing' || fact.type === 'anomaly' ? { deviceId: fact.deviceId } : { entryId: fact.entryId };
}

/** From a key alone (a retraction): anomalies are keyed by tracker, every other fact by entry (see factKey). */
function subjectOfKey(key: string): Subject | null {
  const [prefix, id] = key.split(':', 2);
  if (!id) return null;
  return prefix === 'anomaly' ? { deviceId: id } : { entryId: id };
}

/**
 * The fact changes that are not about trackers `isGone` names, for an instance whose shards moved: what it had
 * not stored yet about trackers another instance now times is that instance's to decide. A fact about an entry
 * goes with the entry's trackers (a car's trackers share a shard); one whose entry has no known tracker, or whose
 * key names nothing, is kept.
 */
export function changesKept(
  changes: FactChanges,
  isGone: (deviceId: string) => boolean,
  trackersOfEntry: (entryId: string) => readonly string[],
): FactChanges {
  const gone = (subject: Subject | null): boolean => {
    if (subject === null) return false;
    if ('deviceId' in subject) return isGone(subject.deviceId);
    const trackers = trackersOfEntry(subject.entryId);
    return trackers.length > 0 && trackers.every(isGone);
  };
  return {
    upserts: changes.upserts.filter((fact) => !gone(subjectOfFact(fact))),
    retractions: changes.retractions.filter((key) => !gone(subjectOfKey(key))),
  };
}
