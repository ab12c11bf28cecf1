import type { Knex } from 'knex';
import type { IoMapping } from '../domain/io/index.ts';

/**
 * The IO mapping tables of the given device models (the Directus `io_mappings` collection, read-only), converted as
 * loadRaceSetup converts them, so that both give a model the same mappingVersion. A model without rows is absent.
 */
export async function loadIoMappings(db: Knex, models: readonly string[]): Promise<Map<string, IoMapping[]>> {
  const byModel = new Map<string, IoMapping[]>();
  if (models.length === 0) return byModel;
  const rows = await db('io_mappings')
    .select(db.raw('model::text AS model'), 'io_id', 'attribute', 'value_type', 'byte_size', 'multiplier', 'offset', 'unit', 'invalid_values')
    .whereRaw('model::text = ANY(?::text[])', [[...models]]);
  for (const m of rows) {
    const list = byModel.get(m.model) ?? [];
    list.push({ ioId: m.io_id, attribute: m.attribute, valueType: m.value_type, byteSize: m.byte_size, multiplier: Number(m.multiplier), offset: Number(m.offset), unit: m.unit, invalidValues: m.invalid_values });
    byModel.set(m.model, list);
  }
  return byModel;
}
