import type { Accountability } from '@directus/types';
import { isUuid } from '../../../../src/domain/uuid-text.ts';
import { refuse, writePermission } from './write-guard.ts';

type Row = Record<string, unknown>;

/** A name as people tell stages apart: case and surrounding spaces aside. */
const nameKey = (name: unknown): string | null => (typeof name === 'string' && name.trim() !== '' ? name.trim().toLowerCase() : null);

/**
 * A stage named as another stage of its event is refused with a 400 naming `name`: the classification board, the
 * panels' pickers and the analytics export tell stages apart by name, and a stage saved as a copy (the quickest way to
 * make SS2 from SS1) kept SS1's name, two "SS1" on the board with nothing said. An update is checked as each row it
 * makes (the stored row with the payload over it). A caller who may not write is left to Directus's 403.
 */
export function stageNameGuard(database: any) {
  const mayWrite = writePermission(database);
  return async (payload: Row, keys: string[] | null, accountability: Accountability | null | undefined, knex?: any): Promise<Row> => {
    if (keys !== null && payload['name'] === undefined && payload['event'] === undefined) return payload;
    if (!(await mayWrite('stages', keys === null ? 'create' : 'update', accountability))) return payload;
    const db = knex ?? database;
    const rows: Row[] = keys === null ? [payload] : (await db('stages').whereIn('id', keys).select('event', 'name')).map((row: Row) => ({ ...row, ...payload }));
    if (keys !== null && rows.length > 1 && payload['name'] !== undefined) {
      refuse([{ field: 'name', message: `${rows.length} stages given the one name ${JSON.stringify(payload['name'])}: give each stage its own name` }]);
    }
    for (const row of rows) {
      const key = nameKey(row['name']);
      if (key === null || !isUuid(row['event'])) continue;
      const twin: Row | undefined = await db('stages')
        .where({ event: row['event'] })
        .whereRaw('lower(trim(name)) = ?', [key])
        .modify((q: any) => (keys === null ? q : q.whereNotIn('id', keys)))
        .first('id', 'name');
      if (twin) {
        refuse([{ field: 'name', message: `the event already has a stage named ${JSON.stringify(twin['name'])} (${String(twin['id'])}): give each stage its own name, as the classification board and the exports tell stages apart by it` }]);
      }
    }
    return payload;
  };
}
