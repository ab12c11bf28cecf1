import type { Knex } from 'knex';
import { DatabaseError, type ClientBase } from 'pg';
import type { FactChanges } from '../domain/pipeline/device-pipeline.ts';
import type { Position } from '../domain/position.ts';
import type { BatchWriter, CopyText } from './batch-writer.ts';
import { copyInto, numbered, SMALL_BATCH, type Statement } from './copy-rows.ts';
import {
  DECODED_COLUMNS,
  decodedCopyLine,
  upsertDecodedAttributes,
  upsertDecodedAttributesStatement,
  type DecodedAttributesRow,
} from './decoded-attributes.ts';
import { isolateRefused } from './isolate-refused.ts';
import { enqueueFacts, enqueueFactsStatement } from './outbox.ts';
import { fixKey, insertPositions, insertPositionsStatement, POSITION_COLUMNS, positionCopyLine } from './positions.ts';
import { isRowRefusal, refusalText } from './row-refusal.ts';

/**
 * Makes one processed batch durable, all or nothing: its positions, their decoded attributes and the fact changes
 * they caused (the outbox). Returns how many positions were new.
 *
 * A small batch (a race at a steady pace gives a few fixes per batch) is ONE statement, its writes chained as
 * data-modifying CTEs: one round trip and one commit instead of a transaction of five statements, which is most of
 * what a live batch costs. A larger batch (a backlog draining) is COPYed straight into the tables (see NewRows),
 * and only when one of its rows is there already does it take the keyed path: COPY into temporary tables, then
 * INSERT ... ON CONFLICT, all in one transaction. Options: `newRows`, the batch's COPY text made beforehand, if the
 * caller made it; `fence`, called just before the commit, throws to roll the batch back (see
 * StagedBatchHandler.store); `writer`, a BatchWriter that COPYs the new rows from a thread of its own. When Postgres
 * refuses a row (isRowRefusal), the batch is stored with storeLiveBatchIsolating instead.
 */
export async function storeLiveBatch(
  db: Knex,
  positions: readonly Position[],
  decoded: readonly DecodedAttributesRow[],
  changes: FactChanges | null,
  { newRows, fence, writer }: { newRows?: NewRows; fence?: () => Promise<void>; writer?: BatchWriter } = {},
): Promise<number> {
  if (positions.length > SMALL_BATCH || decoded.length > SMALL_BATCH) {
    const text = newRows ?? new NewRows().add(positions, decoded);
    let keyed = false;
    if (writer) {
      const facts = changes ? enqueueFactsStatement(changes) : null;
      if (await writer.write(newRowsCopies(text), facts ? [facts] : [], fence)) return text.count;
      keyed = true;
    }
    return db.transaction(async (trx) => {
      let stored = keyed ? null : await copyNewRows(trx, text);
      if (stored === null) {
        stored = await insertPositions(trx, positions);
        await upsertDecodedAttributes(trx, decoded);
      }
      if (changes) await enqueueFacts(trx, changes);
      await fence?.();
      return stored;
    });
  }
  const statement = chainedWrites(positions, decoded, changes);
  if (statement === null) return 0;
  // One statement commits as it is sent.
  await fence?.();
  const result = await db.raw(statement.sql, statement.bindings);
  return (result.rows[0] as { stored: number }).stored;
}

/**
 * A batch's positions and decoded attributes as COPY text for the tables themselves, made part by part while the
 * batch before is being stored, so that storing it is only writing bytes. A fix the tracker sent twice in the batch
 * (the same device and time) is written once, as the keyed path would store it: its first position and that
 * entry's decoded row. Trackers resend fixes after a lost acknowledgement, so a backlog's batches often hold one.
 */
export class NewRows {
  readonly positions: Buffer[] = [];
  /** How many positions the text holds: each (device, time) once. */
  count = 0;
  private readonly positionKeys = new Set<string>();
  /** Each decoded row's COPY line by (device, time): the first row of a key, as for the positions. */
  private readonly decodedLines = new Map<string, string>();

  /** `attributesTexts`: each position's raw attributes as COPY text, or null where they must be serialised. */
  add(positions: readonly Position[], decoded: readonly DecodedAttributesRow[], attributesTexts?: readonly (string | null)[]): this {
    let lines = '';
    positions.forEach((position, i) => {
      const key = fixKey(position);
      if (this.positionKeys.has(key)) return;
      this.positionKeys.add(key);
      lines += positionCopyLine(position, attributesTexts?.[i]);
      this.count += 1;
    });
    if (lines) this.positions.push(Buffer.from(lines));
    for (const row of decoded) {
      const key = fixKey(row);
      if (!this.decodedLines.has(key)) this.decodedLines.set(key, decodedCopyLine(row));
    }
    return this;
  }

  /** The decoded attributes' COPY text, one piece (none when there are no rows); made anew at each call. */
  get decoded(): Buffer[] {
    return this.decodedLines.size > 0 ? [Buffer.from([...this.decodedLines.values()].join(''))] : [];
  }
}

const UNIQUE_VIOLATION = '23505';

/**
 * The batch's rows COPYed straight into positions and decoded_attributes, in a savepoint: the keyed path costs
 * Postgres a temporary table, a second pass over every row and a conflict check per row, about twice the work,
 * for what is in a draining backlog almost always new rows. Returns null, having written nothing, when a row's key
 * is there already (a batch delivered again, a fix sent again in a later batch, decoded rows a backfill wrote first):
 * the caller then stores the batch keyed. Other errors are thrown as the database gave them.
 *
 * Unlike the keyed path, the decoded rows need not go in key order (see byDeviceAndTime): their positions are new
 * in this transaction, so no other writer can hold or wait for those keys; the positions COPY, first, fails on any
 * key another writer has.
 */
export async function copyNewRows(trx: Knex.Transaction, rows: NewRows): Promise<number | null> {
  const connection = (await trx.client.acquireConnection()) as ClientBase;
  try {
    await connection.query('SAVEPOINT pitwall_new_rows');
    try {
      for (const { target, pieces } of newRowsCopies(rows)) await copyInto(connection, target, [Buffer.concat(pieces)]);
      await connection.query('RELEASE SAVEPOINT pitwall_new_rows');
      return rows.count;
    } catch (error) {
      await connection.query('ROLLBACK TO SAVEPOINT pitwall_new_rows');
      if (error instanceof DatabaseError && error.code === UNIQUE_VIOLATION) return null;
      throw error;
    }
  } finally {
    await trx.client.releaseConnection(connection);
  }
}

/**
 * The COPYs of new rows, positions first (the COPY that meets a key another writer has). Their callers send each
 * table's pieces as one: COPY then waits for the socket once, not once per piece.
 */
function newRowsCopies(rows: NewRows): CopyText[] {
  const copies: CopyText[] = [];
  const decoded = rows.decoded;
  if (rows.positions.length > 0) copies.push({ target: `positions (${POSITION_COLUMNS})`, pieces: rows.positions });
  if (decoded.length > 0) copies.push({ target: `decoded_attributes (${DECODED_COLUMNS})`, pieces: decoded });
  return copies;
}

/** The rows of one stream entry (`id`: its stream id; null for rows of no entry, which cannot happen but are kept). */
export interface EntryWrite {
  id: string | null;
  positions: Position[];
  decoded: DecodedAttributesRow[];
}

/** An entry whose rows Postgres refused, in the database's words; its position may still be stored. */
export interface RefusedEntry {
  id: string | null;
  reason: string;
  positionStored: boolean;
}

/**
 * storeLiveBatch for a batch Postgres refused: every entry it accepts is stored, with the batch's fact changes, in
 * one transaction as before; the entries it refuses are found by halving the batch (isolateRefused), each attempt
 * in a savepoint, and returned with the reason. An entry refused only for its decoded attributes keeps its
 * position: a row the database refuses costs only that row. Errors that are not refusals (the connection) are
 * thrown and nothing is stored, so the batch is retried whole.
 */
export async function storeLiveBatchIsolating(
  db: Knex,
  writes: readonly EntryWrite[],
  changes: FactChanges | null,
  fence?: () => Promise<void>,
): Promise<{ stored: number; refused: RefusedEntry[] }> {
  return db.transaction(async (trx) => {
    // The transaction's own connection (as copyRows takes it), so errors come with the database's words alone:
    // knex prefixes the message of every query it runs with the whole statement and its bindings.
    const connection = (await trx.client.acquireConnection()) as ClientBase;
    try {
      let stored = 0;
      const attempt = async (part: readonly EntryWrite[], withDecoded = true): Promise<void> => {
        const statement = chainedWrites(part.flatMap((w) => w.positions), withDecoded ? part.flatMap((w) => w.decoded) : [], null);
        if (statement === null) return;
        await connection.query('SAVEPOINT pitwall_entries');
        try {
          const result = await connection.query<{ stored: number }>(numbered(statement.sql), statement.bindings);
          await connection.query('RELEASE SAVEPOINT pitwall_entries');
          stored += result.rows[0]!.stored;
        } catch (error) {
          await connection.query('ROLLBACK TO SAVEPOINT pitwall_entries');
          throw error;
        }
      };
      const refused: RefusedEntry[] = [];
      for (const { item, error } of await isolateRefused(writes, (part) => attempt(part), isRowRefusal)) {
        const reason = isRowRefusal(error) ? refusalText(error) : String(error);
        let positionStored = false;
        if (item.decoded.length > 0 && item.positions.length > 0) {
          try {
            await attempt([item], false);
            positionStored = true;
          } catch (alone) {
            if (!isRowRefusal(alone)) throw alone;
          }
        }
        const what = positionStored ? 'its decoded attributes (the position is stored)' : 'the entry';
        refused.push({ id: item.id, reason: `database refused ${what}: ${reason}`, positionStored });
      }
      if (changes) await enqueueFacts(trx, changes);
      await fence?.();
      return { stored, refused };
    } finally {
      await trx.client.releaseConnection(connection);
    }
  });
}

/** Positions, decoded attributes and fact changes as one statement of chained data-modifying CTEs. */
function chainedWrites(positions: readonly Position[], decoded: readonly DecodedAttributesRow[], changes: FactChanges | null): Statement | null {
  const writes: [string, Statement | null][] = [
    ['stored', positions.length > 0 ? insertPositionsStatement(positions) : null],
    ['decoded', decoded.length > 0 ? upsertDecodedAttributesStatement(decoded) : null],
    ['enqueued', changes ? enqueueFactsStatement(changes) : null],
  ];
  const parts = writes.filter((write): write is [string, Statement] => write[1] !== null);
  if (parts.length === 0) return null;
  // Postgres runs every data-modifying CTE to completion, whether or not the main query reads it.
  const sql = `WITH ${parts.map(([name, statement]) => `${name} AS (${statement.sql} RETURNING 1)`).join(',\n')}
    SELECT ${positions.length > 0 ? '(SELECT count(*) FROM stored)::int' : '0'} AS stored`;
  return { sql, bindings: parts.flatMap(([, statement]) => statement.bindings) };
}
