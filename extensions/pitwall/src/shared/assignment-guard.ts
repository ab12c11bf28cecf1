import type { Accountability } from '@directus/types';
import type { EntryAssignment } from '../../../../src/domain/pipeline/pipeline-context.ts';
import { isUuid } from '../../../../src/domain/uuid-text.ts';
import { timestampValueMs } from './directus-timestamp.ts';
import { refuse, writePermission } from './write-guard.ts';

type Row = Record<string, unknown>;

/** The roles a tracker has in an entry (the timing's EntryAssignment). */
const ROLES: readonly string[] = ['primary', 'backup'] satisfies EntryAssignment['role'][];

/**
 * A validity bound as Directus stores it: null (open), the time of a stored row (a Date) or of text read as Directus
 * reads it, or undefined for text that is no time (the column guard's to refuse).
 */
function bound(value: unknown): Date | null | undefined {
  if (value === null || value === undefined) return null;
  const ms = timestampValueMs(value);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/**
 * A tracker carried by two entries of one event at the same time is refused, with a 400 naming `device`: the timing
 * takes the first of the two and the other entry is never timed, with nothing said. One tracker in entries of two
 * events at once stays allowed (a car entered in a class run as an event of its own, timed in each), and so does a
 * tracker moved from one entry to another with validity windows that do not overlap. An update is checked as the row
 * it makes (the stored row with the payload over it); what is no id or no time is left to the column guard.
 */
export function assignmentGuard(database: any) {
  const mayWrite = writePermission(database);
  return async (payload: Row, keys: string[] | null, accountability: Accountability | null | undefined, knex?: any): Promise<Row> => {
    if (!(await mayWrite('entry_devices', keys === null ? 'create' : 'update', accountability))) return payload;
    // Directus stores any text in the role's dropdown, and the timing took an unknown role for the primary.
    const role = payload['role'];
    if (role !== undefined && role !== null && !ROLES.includes(role as string)) {
      refuse([{ field: 'role', message: `expected one of ${ROLES.join(', ')}, not ${JSON.stringify(role)}` }]);
    }
    const db = knex ?? database;
    const rows: Row[] = keys === null ? [payload] : (await db('entry_devices').whereIn('id', keys).select('*')).map((row: Row) => ({ ...row, ...payload }));
    for (const row of rows) {
      const [from, to] = [bound(row['valid_from']), bound(row['valid_to'])];
      if (!isUuid(row['entry']) || !isUuid(row['device']) || from === undefined || to === undefined) continue;
      const clash = await db('entry_devices as ed')
        .join('entries as other', 'other.id', 'ed.entry')
        .join('entries as own', 'own.event', 'other.event')
        .where('own.id', row['entry'])
        .andWhere('ed.device', row['device'])
        .andWhereNot('ed.entry', row['entry'])
        .modify((q: any) => {
          if (isUuid(row['id'])) q.andWhereNot('ed.id', row['id']);
          // Windows [from, to) overlap unless one ends before the other starts (null: open on that side).
          if (from !== null) q.andWhere((w: any) => w.whereNull('ed.valid_to').orWhere('ed.valid_to', '>', from));
          if (to !== null) q.andWhere((w: any) => w.whereNull('ed.valid_from').orWhere('ed.valid_from', '<', to));
        })
        .first('other.race_number', 'ed.valid_from', 'ed.valid_to');
      if (clash) {
        const window = `${clash.valid_from ? `from ${new Date(clash.valid_from).toISOString()}` : 'from the start'}${clash.valid_to ? ` to ${new Date(clash.valid_to).toISOString()}` : ', with no end'}`;
        refuse([
          {
            field: 'device',
            message: `this tracker is carried by entry #${clash.race_number} of the same event ${window}; only one entry of an event can be timed from it at a time: end that assignment (valid_to) or give this one a window after it`,
          },
        ]);
      }
    }
    return payload;
  };
}
