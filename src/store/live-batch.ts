import type { Knex } from 'knex';
import type { FactChanges } from '../domain/pipeline/device-pipeline.ts';
import type { Position } from '../domain/position.ts';
import { SMALL_BATCH, type Statement } from './copy-rows.ts';
import { upsertDecodedAttributes, upsertDecodedAttributesStatement, type DecodedAttributesRow } from './decoded-attributes.ts';
import { enqueueFacts, enqueueFactsStatement } from './outbox.ts';
import { insertPositions, insertPositionsStatement } from './positions.ts';

/**
 * Makes one processed batch durable, all or nothing: its positions, their decoded attributes and the fact changes
 * they caused (the outbox). Returns how many positions were new.
 *
 * A small batch (a race at a steady pace gives a few fixes per batch) is ONE statement, its writes chained as
 * data-modifying CTEs: one round trip and one commit instead of a transaction of five statements, which is most of
 * what a live batch costs. Larger batches take the COPY paths in one transaction.
 */
export async function storeLiveBatch(db: Knex, positions: readonly Position[], decoded: readonly DecodedAttributesRow[], changes: FactChanges | null): Promise<number> {
  if (positions.length > SMALL_BATCH || decoded.length > SMALL_BATCH) {
    return db.transaction(async (trx) => {
      const stored = await insertPositions(trx, positions);
      await upsertDecodedAttributes(trx, decoded);
      if (changes) await enqueueFacts(trx, changes);
      return stored;
    });
  }
  const writes: [string, Statement | null][] = [
    ['stored', positions.length > 0 ? insertPositionsStatement(positions) : null],
    ['decoded', decoded.length > 0 ? upsertDecodedAttributesStatement(decoded) : null],
    ['enqueued', changes ? enqueueFactsStatement(changes) : null],
  ];
  const parts = writes.filter((write): write is [string, Statement] => write[1] !== null);
  if (parts.length === 0) return 0;
  // Postgres runs every data-modifying CTE to completion, whether or not the main query reads it.
  const sql = `WITH ${parts.map(([name, statement]) => `${name} AS (${statement.sql} RETURNING 1)`).join(',\n')}
    SELECT ${positions.length > 0 ? '(SELECT count(*) FROM stored)::int' : '0'} AS stored`;
  const result = await db.raw(sql, parts.flatMap(([, statement]) => statement.bindings));
  return (result.rows[0] as { stored: number }).stored;
}
