import type { FactChanges } from '../domain/pipeline/device-pipeline.ts';
import { mergeChanges } from '../domain/pipeline/merge-changes.ts';
import type { OutboxRow } from '../store/outbox.ts';

/** One `POST /pitwall/facts` body made from outbox rows. */
export interface FactsRequest extends FactChanges {
  batch: string;
  source: OutboxRow['source'];
  /** The id of the newest row merged in: the endpoint skips a fact's change older than one it applied. */
  sequence: number;
}

/** Facts per request: Directus refuses request bodies over 1 MB by default. */
export const FACTS_PER_REQUEST = 300;

const factCount = (changes: FactChanges) => changes.upserts.length + changes.retractions.length;

/**
 * Rows that go in one request: consecutive ids of one source, up to about `maxFacts` facts (a larger row goes
 * alone and is split). Only rows with no id between them are merged, because the request carries the newest id
 * as the ordering number of all its facts: a row left out in between (not yet committed, or parked) may hold a
 * newer change of one of them, which that number would then make look older than it is.
 */
export function outboxGroups(rows: readonly OutboxRow[], maxFacts = FACTS_PER_REQUEST): OutboxRow[][] {
  const out: OutboxRow[][] = [];
  let size = 0;
  for (const row of rows) {
    const facts = factCount(row.payload);
    const last = out.at(-1);
    const previous = last?.at(-1);
    if (last && previous && previous.source === row.source && BigInt(row.id) === BigInt(previous.id) + 1n && size + facts <= maxFacts) {
      last.push(row);
      size += facts;
    } else {
      out.push([row]);
      size = facts;
    }
  }
  return out;
}

/**
 * The requests of one group: its rows merged in order (the latest change of a fact wins), split into parts Directus
 * accepts, each numbered with the group's newest row id. Retractions go first; a key is never both retracted and
 * upserted in one merge, so the order between parts does not matter.
 */
export function groupRequests(group: readonly OutboxRow[], maxFacts = FACTS_PER_REQUEST): FactsRequest[] {
  const first = group[0];
  if (!first) return [];
  const last = group.at(-1)!;
  const changes = group.length === 1 ? first.payload : mergeChanges(group.map((r) => r.payload));
  const name = group.length === 1 ? first.id : `${first.id}-${last.id}`;
  const parts: FactChanges[] = [];
  for (let i = 0; i < changes.retractions.length; i += maxFacts) parts.push({ upserts: [], retractions: changes.retractions.slice(i, i + maxFacts) });
  for (let i = 0; i < changes.upserts.length; i += maxFacts) parts.push({ upserts: changes.upserts.slice(i, i + maxFacts), retractions: [] });
  return parts.map((part, i) => ({ batch: `outbox-${name}-${i}`, source: first.source, sequence: Number(last.id), ...part }));
}
