import type { FactCollection } from '../../../../src/domain/pipeline/fact-row.ts';
import { addRefs, type EventRefs } from './race-events-build.ts';

/** A fact row the batch would create or update. */
export interface PlannedRow {
  collection: FactCollection;
  id: string;
  row: Record<string, unknown>;
}

/** A planned row that cannot be written, and why. */
export interface SkippedRow {
  collection: FactCollection;
  id: string;
  reason: string;
}

/** The fields of fact rows that are foreign keys (pitwall-schema.ts), and the table each refers to. */
const references = { entry: 'entries', stage: 'stages', geofence: 'geofences' } as const;
type Reference = keyof typeof references;
/** What the race events of the rows need of each (see EventRefs), read with the lock rather than again later. */
const columns: Record<Reference, string> = { entry: 'id, race_number, event', stage: 'id, event', geofence: 'id' };

/**
 * The planned rows whose entry, stage or geofence no longer exists: an admin deleted it (or its event) while the
 * facts waited in the outbox. The database would refuse them on every retry, holding back every later batch, and
 * the facts are about something that is gone anyway. One query per referenced table, by id list.
 *
 * The rows that do exist are locked (FOR KEY SHARE) until the transaction ends, so they cannot be deleted between
 * this check and the writes: a concurrent delete waits, then its cascade takes what this transaction wrote. Their
 * race numbers and events are added to `refs`, so the race events need not read them again.
 */
export async function orphanedRows(trx: any, planned: readonly PlannedRow[], refs?: EventRefs): Promise<SkippedRow[]> {
  const wanted = new Map<Reference, Set<string>>();
  for (const { row } of planned) {
    for (const field of Object.keys(references) as Reference[]) {
      const id = row[field];
      if (id === null || id === undefined) continue;
      if (!wanted.has(field)) wanted.set(field, new Set());
      wanted.get(field)!.add(String(id).toLowerCase());
    }
  }
  const existing = new Map<Reference, Set<string>>();
  for (const [field, ids] of wanted) {
    // Sorted, so two transactions lock shared rows in the same order.
    const table = references[field];
    const { rows } = await trx.raw(`SELECT ${columns[field]} FROM ?? WHERE id = ANY(?::uuid[]) ORDER BY id FOR KEY SHARE`, [table, [...ids].sort()]);
    existing.set(field, new Set((rows as { id: string }[]).map((r) => String(r.id))));
    if (refs && table !== 'geofences') addRefs(refs, table, rows);
  }
  const orphans: SkippedRow[] = [];
  for (const { collection, id, row } of planned) {
    const missing = (Object.keys(references) as Reference[]).filter((field) => row[field] !== null && row[field] !== undefined && !existing.get(field)!.has(String(row[field]).toLowerCase()));
    if (missing.length > 0) orphans.push({ collection, id, reason: missing.map((field) => `${field} ${String(row[field])} does not exist`).join('; ') });
  }
  return orphans;
}
