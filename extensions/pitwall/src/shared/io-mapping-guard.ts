import type { Accountability } from '@directus/types';
import { ioMappingFieldProblem, type IoMappingFieldProblem } from '../../../../src/domain/io/io-mapping-problem';
import type { IoMapping } from '../../../../src/domain/io/io-mapping';
import { parsedOrText, refuse, writePermission } from './write-guard';

type Row = Record<string, unknown>;

const COLUMN_OF: Record<IoMappingFieldProblem['field'], string> = {
  ioId: 'io_id',
  attribute: 'attribute',
  valueType: 'value_type',
  byteSize: 'byte_size',
  multiplier: 'multiplier',
  offset: 'offset',
  unit: 'unit',
  invalidValues: 'invalid_values',
};

/**
 * IO mappings the decoder cannot use are refused where they are written, with a 400 naming the field: Directus
 * stores any text in the value type's dropdown and any JSON in the invalid values, and the processor would only
 * record the problem in every fix's decoded attributes. An update is checked as the row it makes: the stored row
 * (`stored`, read by the caller; null for a create) with the payload over it. A caller who may not write is left to
 * Directus's 403 (see writePermission).
 */
export function ioMappingGuard(database: any) {
  const mayWrite = writePermission(database);
  /** `trx`: the request's transaction, where the rows of a list created before this one are. */
  return async (payload: Row, stored: Row[] | null, accountability: Accountability | null | undefined, trx: any = database): Promise<Row> => {
    if (!(await mayWrite('io_mappings', stored === null ? 'create' : 'update', accountability))) return payload;
    const rows: Row[] = stored === null ? [payload] : stored.map((row) => ({ ...row, ...payload }));
    for (const row of rows) {
      const problem = ioMappingFieldProblem(mappingOf(row));
      if (problem) refuse([{ field: COLUMN_OF[problem.field], message: problem.message }]);
    }
    if ('attribute' in payload || 'model' in payload) {
      const message = await nameClash(trx, rows);
      if (message) refuse([{ field: 'attribute', message }]);
    }
    return payload;
  };
}

/**
 * Two IO elements of one model under one name: the decoded attributes keep one of the two values and drop the other
 * without a word. Looked for among the rows written (a list update naming several) and the model's stored rows.
 */
async function nameClash(database: any, rows: Row[]): Promise<string | null> {
  const seen = new Map<string, unknown>();
  for (const row of rows) {
    const { model, attribute, io_id: ioId } = row;
    // An io_id that is no IO id is Directus's to refuse (a query with it would be Postgres's 500).
    if (typeof model !== 'string' || typeof attribute !== 'string' || !isIoId(ioId)) continue;
    const key = JSON.stringify([model, attribute]);
    if (seen.has(key) && seen.get(key) !== ioId) return clashMessage(attribute, seen.get(key));
    seen.set(key, ioId);
    const others = rows.filter((r) => r['id'] !== undefined).map((r) => r['id']);
    const stored = await database('io_mappings')
      .where({ attribute })
      .whereRaw('model::text = ?', [model])
      .whereNot('io_id', Number(ioId))
      .modify((q: any) => (others.length > 0 ? q.whereNotIn('id', others) : q))
      .first('io_id');
    if (stored) return clashMessage(attribute, stored.io_id);
  }
  return null;
}

/** An IO id Postgres's integer column takes (the wire's are 0 to 65535). */
const isIoId = (value: unknown): boolean => (typeof value === 'number' || (typeof value === 'string' && value.trim() !== '')) && Number.isInteger(Number(value)) && Math.abs(Number(value)) <= 2_147_483_647;

const clashMessage = (attribute: string, ioId: unknown) =>
  `attribute ${JSON.stringify(attribute)} already names IO ${ioId} of this model: each IO element needs a name of its own, or the decoded attributes keep only one of the two values`;

/** A row as the processor reads it (loadIoMappings), with the columns' defaults where a new row leaves them out. */
function mappingOf(row: Row): IoMapping {
  return {
    ioId: Number(row['io_id']),
    attribute: row['attribute'] as string,
    valueType: row['value_type'] as IoMapping['valueType'],
    byteSize: numberOf(row['byte_size']),
    multiplier: row['multiplier'] === undefined ? 1 : numberOf(row['multiplier']),
    offset: row['offset'] === undefined ? 0 : numberOf(row['offset']),
    unit: typeof row['unit'] === 'string' ? row['unit'] : null,
    invalidValues: jsonOf(row['invalid_values']) as IoMapping['invalidValues'],
  };
}

/** A number sent as a number or as decimal text (Postgres's numeric comes back as text); anything else is NaN. */
function numberOf(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') return Number(value);
  return Number.NaN;
}

/** A json field may come as its text; a new row without it has none. */
function jsonOf(value: unknown): unknown {
  if (value === undefined) return null;
  return typeof value === 'string' ? parsedOrText(value) : value;
}
