import { readFields, updateField } from '@directus/sdk';
import type { Knex } from 'knex';
import { directusMessage } from './apply-schema.ts';
import type { AdminClient } from './directus-admin.ts';
import { pitwallCollections } from './pitwall-schema.ts';

const INT4_MIN = -2_147_483_648;
const INT4_MAX = 2_147_483_647;

/** A stored value that a 4-byte integer cannot hold: setup stops rather than lose or change a time. */
export class IntegerFieldsRefusedError extends Error {
  override name = 'IntegerFieldsRefusedError';
}

/**
 * The one change setup makes to fields that exist: Pitwall's time spans (`*_ms`) were `bigInteger`, which Directus
 * answers as JSON strings; they are `integer` now (see milliseconds in field-kinds). A database set up before gets
 * each such column changed through Directus's own `PATCH /fields/<collection>/<field>` (the column type and
 * Directus's schema cache together), with the field note that says why. Only bigInteger → integer, only for fields
 * Pitwall declares as integer; anything else an admin changed is left alone. When a stored value does not fit, nothing
 * is changed and setup stops, naming the field, how many rows and the largest value.
 */
export async function migrateIntegerFields(client: AdminClient, db: Knex): Promise<string[]> {
  const existing = (await client.request(readFields())) as { collection: string; field: string; type: string }[];
  const typeOf = new Map(existing.map((f) => [`${f.collection}.${f.field}`, f.type]));
  const pending = pitwallCollections.flatMap((c) =>
    c.fields.filter((f) => f.type === 'integer' && typeOf.get(`${c.collection}.${f.field}`) === 'bigInteger').map((field) => ({ collection: c.collection, field })),
  );
  if (pending.length === 0) return [];

  const problems: string[] = [];
  for (const { collection, field } of pending) {
    const { rows } = await db.raw(
      `SELECT count(*)::int AS outside, max(abs(??))::text AS largest FROM ?? WHERE ?? NOT BETWEEN ? AND ?`,
      [field.field, collection, field.field, INT4_MIN, INT4_MAX],
    );
    const { outside, largest } = (rows as { outside: number; largest: string | null }[])[0]!;
    if (outside > 0) problems.push(`${collection}.${field.field}: ${outside} row(s) beyond ±${INT4_MAX} (largest ${largest})`);
  }
  if (problems.length > 0) {
    throw new IntegerFieldsRefusedError(
      `setup cannot make these millisecond fields 4-byte integers, nothing was changed: ${problems.join('; ')}. ` +
        'A time span that long (over 24 days) is a mistake: correct or clear those values, then run setup again.',
    );
  }

  const done: string[] = [];
  for (const { collection, field } of pending) {
    try {
      // `schema: {}` makes Directus alter the column (keeping its nullability and default); `type` alone would not.
      await client.request(updateField(collection, field.field, { type: 'integer', schema: {}, meta: { note: field.meta['note'] ?? null } } as never));
    } catch (error) {
      throw new Error(`change field ${collection}.${field.field} to integer failed: ${directusMessage(error)}`, { cause: error });
    }
    done.push(`change field ${collection}.${field.field} from bigInteger to integer`);
  }
  return done;
}
