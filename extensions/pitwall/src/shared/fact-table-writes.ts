import type { Accountability, SchemaOverview } from '@directus/types';
import type { Knex } from 'knex';

type Row = Record<string, unknown>;

/**
 * How a batch's rows of one collection are written: through ItemsService, or set-based (see tableWriter). `create`
 * and `update` return the rows as stored when the write gives them back (set-based), so the race events need not
 * read them again; an empty list otherwise.
 */
export interface FactWriter {
  create(rows: Row[]): Promise<Row[]>;
  update(rows: Row[]): Promise<Row[]>;
  remove(ids: string[]): Promise<void>;
}

const writeActions = ['create', 'update', 'delete'] as const;

interface PermissionRow {
  collection: string;
  action: string;
  fields: string | string[] | null;
  permissions: unknown;
  validation: unknown;
  presets: unknown;
  ip_access: unknown;
}

const json = (value: unknown): unknown => (typeof value === 'string' ? JSON.parse(value) : value);
const empty = (value: unknown): boolean => {
  const parsed = json(value);
  return parsed === null || parsed === undefined || (typeof parsed === 'object' && Object.keys(parsed as object).length === 0);
};
const allFields = (fields: PermissionRow['fields']): boolean => (Array.isArray(fields) ? fields : String(fields ?? '').split(',')).includes('*');

/**
 * The fact collections where the caller's permissions decide nothing about single rows: an admin, or every write
 * action granted by a permission over all fields with no item rule, and no permission of the caller's on that action
 * with validation or presets (Directus applies those of every policy), all through policies with no IP limit
 * (Directus drops those by address; taken as not granting rather than guessed). There, a write that the caller may
 * make as a whole may be made set-based, and Directus would have let each row through. Anywhere else (a role narrowed
 * by hand), the rows go through ItemsService and Directus decides, row by row as before.
 */
export async function plainWriteCollections(database: Knex, accountability: Accountability | null, collections: readonly string[]): Promise<Set<string>> {
  if (!accountability) return new Set();
  if (accountability.admin) return new Set(collections);
  const roles = [accountability.role, ...((accountability as { roles?: string[] }).roles ?? [])].filter((r): r is string => Boolean(r));
  const rows: PermissionRow[] = await database('directus_permissions as p')
    .join('directus_access as a', 'a.policy', 'p.policy')
    .join('directus_policies as pol', 'pol.id', 'p.policy')
    .whereIn('p.collection', collections as string[])
    .whereIn('p.action', writeActions as unknown as string[])
    .andWhere((q) => {
      q.whereIn('a.role', roles);
      if (accountability.user) q.orWhere('a.user', accountability.user);
    })
    .select('p.collection', 'p.action', 'p.fields', 'p.permissions', 'p.validation', 'p.presets', 'pol.ip_access');
  const plain = new Set<string>();
  for (const collection of collections) {
    const isPlain = writeActions.every((action) => {
      const granted = rows.filter((row) => row.collection === collection && row.action === action);
      return (
        granted.some((row) => allFields(row.fields) && empty(row.permissions) && empty(row.ip_access)) &&
        granted.every((row) => empty(row.validation) && empty(row.presets))
      );
    });
    if (isPlain) plain.add(collection);
  }
  return plain;
}

/**
 * Whether Directus's own checks of a payload (processPayload: a field that may not be null is sent and not null, a
 * field's validation rule) can be decided here for these rows: true when the collection has no validation rules and
 * every row gives each non-nullable field it must (a create: those without a default or a generated value). When
 * false, the rows go through ItemsService, which answers with Directus's own validation errors.
 */
export function rowsPassFieldRules(schema: SchemaOverview, collection: string, creates: Row[], updates: Row[]): boolean {
  const fields = Object.values(schema.collections[collection]?.fields ?? {});
  if (fields.some((field) => field.validation && Object.keys(field.validation).length > 0)) return false;
  const generated = (field: (typeof fields)[number]) => field.generated || field.special.some((s) => ['uuid', 'user-created', 'user-updated', 'date-created', 'date-updated', 'role-created', 'sort'].includes(s));
  // Special fields Directus fills or casts on a write (other than the m2o/uuid/json ones the fact rows use) would
  // have to be filled here too: leave such a collection to ItemsService.
  if (fields.some((field) => field.special.some((s) => !['m2o', 'o2m', 'uuid', 'cast-json', 'cast-timestamp', 'cast-datetime', 'alias', 'no-data'].includes(s)))) return false;
  const notNull = fields.filter((field) => !field.nullable && !generated(field));
  const sent = (row: Row, field: string) => row[field] !== undefined && row[field] !== null;
  if (creates.some((row) => notNull.some((field) => field.defaultValue === null && !sent(row, field.field)))) return false;
  return [...creates, ...updates].every((row) => notNull.every((field) => !(field.field in row) || sent(row, field.field)));
}

/** Rows grouped by the fields they set, so a group is one statement and a field a row leaves out keeps its value. */
function byFieldSet(rows: Row[]): Row[][] {
  const groups = new Map<string, Row[]>();
  for (const row of rows) {
    const key = Object.keys(row).sort().join(',');
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  return [...groups.values()];
}

/** JSON text of rows for json_populate_recordset: json fields stay nested values, the rest Postgres casts itself. */
const recordset = (rows: Row[]): string => JSON.stringify(rows);

/**
 * Set-based writes of fact rows in the caller's transaction: one INSERT per collection and field set, one UPDATE per
 * field set, one DELETE. Postgres types each value from its JSON (json_populate_recordset over the table's own row
 * type), as ItemsService's inserts would. Used only where plainWriteCollections and rowsPassFieldRules say Directus
 * would decide nothing row by row; like the ItemsService path it replaces (emitEvents off, skipTracking) it emits no
 * item events and tracks no activity: the race events are the record.
 */
export function tableWriter(trx: Knex, collection: string): FactWriter {
  return {
    async create(rows) {
      const stored: Row[] = [];
      for (const group of byFieldSet(rows)) {
        const fields = Object.keys(group[0]!);
        const { rows: returned } = await trx.raw(
          `INSERT INTO ?? (${fields.map(() => '??').join(', ')}) SELECT ${fields.map(() => 'v.??').join(', ')} FROM json_populate_recordset(NULL::??, ?::json) AS v RETURNING *`,
          [collection, ...fields, ...fields, collection, recordset(group)],
        );
        stored.push(...returned);
      }
      return stored;
    },
    async update(rows) {
      const stored: Row[] = [];
      for (const group of byFieldSet(rows)) {
        const fields = Object.keys(group[0]!).filter((field) => field !== 'id');
        if (fields.length === 0) continue;
        const { rows: returned } = await trx.raw(
          `UPDATE ?? AS t SET ${fields.map(() => '?? = v.??').join(', ')} FROM json_populate_recordset(NULL::??, ?::json) AS v WHERE t.id = v.id RETURNING t.*`,
          [collection, ...fields.flatMap((field) => [field, field]), collection, recordset(group)],
        );
        stored.push(...returned);
      }
      return stored;
    },
    async remove(ids) {
      if (ids.length > 0) await trx(collection).whereIn('id', ids).delete();
    },
  };
}
