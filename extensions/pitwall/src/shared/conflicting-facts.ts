import type { FactCollection } from '../../../../src/domain/pipeline/fact-row.ts';
import type { PlannedRow, SkippedRow } from './orphaned-facts.ts';

/**
 * The fact collections' unique keys besides the id (compositeUniques in pitwall-schema.ts). A fact's id is derived
 * from a key made of these same fields, so two facts never clash; a row a timekeeper made or edited by hand can.
 */
const uniques: Partial<Record<FactCollection, { columns: string[]; name: string }>> = {
  stage_results: { columns: ['entry', 'stage'], name: 'its entry and stage' },
  entry_crossings: { columns: ['entry', 'geofence', 'crossed_at'], name: 'its entry, geofence and time' },
};

/** Rows per query: a few bound values each, well below Postgres's 65,535. */
const CHUNK = 1000;

/** Timestamps come back from pg as Dates and go in as ISO strings: compare them as epoch milliseconds. */
const part = (value: unknown): string => {
  if (value instanceof Date) return String(value.getTime());
  if (typeof value === 'string' && /^\d{4}-\d\d-\d\dT/.test(value)) return String(Date.parse(value));
  // uuids: Postgres answers them in lower case, whatever case they were sent in.
  return String(value).toLowerCase();
};
const tupleOf = (row: Record<string, unknown>, columns: string[]) => JSON.stringify(columns.map((c) => part(row[c])));

/**
 * The planned rows whose place is held by a stored row of another id that this batch does not delete: a result a
 * timekeeper entered by hand for the same entry and stage, a crossing a timekeeper moved to the same time. The
 * database would refuse them on every retry (a unique violation), holding back every later batch; the person's row
 * is kept. One query per unique key.
 */
export async function conflictingRows(trx: any, planned: readonly PlannedRow[], deleting: ReadonlySet<string>): Promise<SkippedRow[]> {
  const conflicts: SkippedRow[] = [];
  for (const [collection, unique] of Object.entries(uniques) as [FactCollection, { columns: string[]; name: string }][]) {
    const rows = planned.filter((p) => p.collection === collection && unique.columns.every((c) => p.row[c] !== null && p.row[c] !== undefined));
    if (rows.length === 0) continue;
    const holder = new Map<string, string>();
    const stored: Record<string, unknown>[] = [];
    for (let i = 0; i < rows.length; i += CHUNK) {
      const tuples = rows.slice(i, i + CHUNK).map((p) => unique.columns.map((c) => p.row[c]));
      stored.push(...(await trx(collection).whereIn(unique.columns, tuples).select('id', ...unique.columns)));
    }
    for (const row of stored) if (!deleting.has(String(row['id']))) holder.set(tupleOf(row, unique.columns), String(row['id']));
    for (const { id, row } of rows) {
      const other = holder.get(tupleOf(row, unique.columns));
      if (other !== undefined && other !== id) conflicts.push({ collection, id, reason: `row ${other} already holds ${unique.name}` });
    }
  }
  return conflicts;
}
