import { createCollection, createField, createRelation, readCollections, readFields, readRelations } from '@directus/sdk';
import type { Knex } from 'knex';
import type { AdminClient } from './directus-admin.ts';
import { describeStep, planSchema, type ExistingSchema, type SchemaStep } from './plan-schema.ts';
import { compositeUniques, pitwallCollections } from './pitwall-schema.ts';

export async function readExistingSchema(client: AdminClient): Promise<ExistingSchema> {
  const [collections, fields, relations] = await Promise.all([
    client.request(readCollections()),
    client.request(readFields()),
    client.request(readRelations()),
  ]);
  return {
    collections: new Set((collections as { collection: string }[]).map((c) => c.collection)),
    fields: new Set((fields as { collection: string; field: string }[]).map((f) => `${f.collection}.${f.field}`)),
    relations: new Set((relations as { collection: string; field: string }[]).map((r) => `${r.collection}.${r.field}`)),
  };
}

async function applyStep(client: AdminClient, step: SchemaStep): Promise<void> {
  switch (step.kind) {
    case 'collection':
      await client.request(
        createCollection({
          collection: step.collection,
          meta: step.meta,
          schema: step.folder ? null : {},
          ...(step.folder || !step.primaryKey ? {} : { fields: [step.primaryKey] }),
        } as never),
      );
      return;
    case 'field':
      await client.request(createField(step.collection, step.field as never));
      return;
    case 'relation':
      await client.request(createRelation(step.relation as never));
      return;
    default: {
      const never: never = step;
      throw new Error(`unknown schema step ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Adds whatever of Pitwall's schema is missing, through the Directus API (so Directus's own caches, revisions and
 * validation see every change), then the multi-column unique indexes. Returns what it did.
 */
export async function applyPitwallSchema(client: AdminClient, db: Knex): Promise<string[]> {
  const steps = planSchema(pitwallCollections, await readExistingSchema(client));
  const done: string[] = [];
  for (const step of steps) {
    try {
      await applyStep(client, step);
    } catch (error) {
      throw new Error(`${describeStep(step)} failed: ${directusMessage(error)}`, { cause: error });
    }
    done.push(describeStep(step));
  }
  for (const unique of compositeUniques) {
    const exists = await db.raw('SELECT to_regclass(?) IS NOT NULL AS present', [unique.name]);
    if (exists.rows[0].present) continue;
    await db.raw(`CREATE UNIQUE INDEX IF NOT EXISTS ?? ON ?? (${unique.columns.map(() => '??').join(', ')})`, [
      unique.name,
      unique.table,
      ...unique.columns,
    ]);
    done.push(`add unique index ${unique.name}`);
  }
  return done;
}

/** The SDK throws `{errors: [{message}]}` objects; turn them into one readable line. */
export function directusMessage(error: unknown): string {
  const errors = (error as { errors?: { message?: string; extensions?: { code?: string } }[] })?.errors;
  if (Array.isArray(errors) && errors.length > 0) {
    return errors.map((e) => `${e.extensions?.code ?? 'ERROR'}: ${e.message}`).join('; ');
  }
  return error instanceof Error ? error.message : String(error);
}
