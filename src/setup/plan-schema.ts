import type { FieldDef, RelationDef } from './field-kinds.ts';
import type { CollectionDef } from './pitwall-schema.ts';

/** What exists in Directus now, by name: collections, `collection.field` and relations keyed the same way. */
export interface ExistingSchema {
  collections: ReadonlySet<string>;
  fields: ReadonlySet<string>;
  relations: ReadonlySet<string>;
}

export type SchemaStep =
  | { kind: 'collection'; collection: string; folder: boolean; meta: Record<string, unknown>; primaryKey: FieldDef | null }
  | { kind: 'field'; collection: string; field: FieldDef }
  | { kind: 'relation'; relation: RelationDef };

const isAlias = (field: FieldDef) => field.type === 'alias';

/**
 * The additions that bring Directus up to Pitwall's schema. Only additions: a collection, field or relation that
 * exists is left exactly as an admin may have changed it, and nothing unknown is ever dropped. The order matters:
 * collections, then columns, then the o2m aliases, then the relations that need both ends.
 */
export function planSchema(desired: readonly CollectionDef[], existing: ExistingSchema): SchemaStep[] {
  const collections: SchemaStep[] = [];
  const columns: SchemaStep[] = [];
  const aliases: SchemaStep[] = [];
  const relations: SchemaStep[] = [];
  for (const def of desired) {
    const [primaryKey, ...rest] = def.fields;
    if (!existing.collections.has(def.collection)) {
      collections.push({ kind: 'collection', collection: def.collection, folder: def.folder ?? false, meta: def.meta, primaryKey: primaryKey ?? null });
    }
    for (const field of rest) {
      if (existing.fields.has(`${def.collection}.${field.field}`)) continue;
      (isAlias(field) ? aliases : columns).push({ kind: 'field', collection: def.collection, field });
    }
    for (const relation of def.relations) {
      if (existing.relations.has(`${relation.collection}.${relation.field}`)) continue;
      relations.push({ kind: 'relation', relation });
    }
  }
  return [...collections, ...columns, ...aliases, ...relations];
}

export function describeStep(step: SchemaStep): string {
  switch (step.kind) {
    case 'collection':
      return `create ${step.folder ? 'folder' : 'collection'} ${step.collection}`;
    case 'field':
      return `add field ${step.collection}.${step.field.field}`;
    case 'relation':
      return `relate ${step.relation.collection}.${step.relation.field} -> ${step.relation.related_collection}`;
    default: {
      const never: never = step;
      throw new Error(`unknown schema step ${JSON.stringify(never)}`);
    }
  }
}
