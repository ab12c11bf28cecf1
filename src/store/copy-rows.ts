import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Knex } from 'knex';
import type { ClientBase } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/**
 * Bulk writes go through COPY: for batches of thousands of rows it beats a parameterised INSERT several times,
 * because Postgres parses plain text lines instead of one huge array literal per column.
 */

/**
 * Up to this many rows a write is one statement instead (an INSERT from a JSON document): COPY needs a temporary
 * table and about six round trips, which is most of the cost of a small live batch.
 */
export const SMALL_BATCH = 256;

/** One SQL statement with its `?` bindings, for a caller to run alone or as part of a larger one. */
export interface Statement {
  sql: string;
  bindings: string[];
}

/** knex's `?` placeholders as pg's `$n`, for a Statement run on a pg connection; these hold no other question mark. */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

const SPECIAL = /[\\\t\n\r]/;
const SPECIAL_ALL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** One text value in COPY's text format: backslash, tab, newline and carriage return escaped. */
export function copyField(value: string): string {
  return SPECIAL.test(value) ? value.replace(SPECIAL_ALL, (c) => ESCAPES[c]!) : value;
}

/** Lines joined into chunks of about 64 kB, so the socket gets few large writes and memory stays flat. */
export function* copyChunks<T>(rows: Iterable<T>, toLine: (row: T) => string): Generator<string> {
  let chunk = '';
  for (const row of rows) {
    chunk += toLine(row);
    if (chunk.length >= 65_536) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

/**
 * Streams `rows` into `COPY <target> FROM STDIN` on the transaction's own connection. Each line must end with a
 * newline and use copyField for text. `rows` may be a generator: it is read as the socket drains. A COPY error
 * rejects, and the transaction rolls back.
 */
export async function copyRows<T>(trx: Knex.Transaction, target: string, rows: Iterable<T>, toLine: (row: T) => string): Promise<number> {
  // Inside a transaction knex hands out the transaction's connection, and releasing it is a no-op.
  const connection = (await trx.client.acquireConnection()) as ClientBase;
  try {
    return await copyInto(connection, target, copyChunks(rows, toLine));
  } finally {
    await trx.client.releaseConnection(connection);
  }
}

/** COPY text (whole lines, see copyRows) into `target` on a connection in hand, as `text` yields it. */
export async function copyInto(connection: ClientBase, target: string, text: Iterable<string | Buffer>): Promise<number> {
  const sink = connection.query(copyFrom(`COPY ${target} FROM STDIN`));
  await pipeline(Readable.from(text), sink);
  return sink.rowCount;
}
