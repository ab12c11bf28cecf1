import type { Knex } from 'knex';

/** How long a read waits for the request that wrote its rows to commit. */
const COMMIT_WAIT_MS = 10_000;
/** Postgres's lock_not_available, which `NOWAIT` answers when another transaction holds a row. */
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * Resolves once the rows that actions name are committed, so that what reads them next sees what the actions did.
 * `ids` holds each action's rows: the rows of one action are written by one transaction.
 *
 * Directus emits the actions of a CSV or JSON import, and of a `PATCH` with a list of rows, inside the request's
 * transaction, before it commits (`import-export.js`, `updateBatch`). Updated rows stay locked until the commit, so a
 * read `FOR SHARE` waits for it. Created rows cannot be seen until the commit, so they are looked for until they show;
 * a request that rolled back never shows them, and after COMMIT_WAIT_MS the reader goes on with what it finds.
 */
export async function rowsCommitted(database: Knex, collection: string, kind: 'create' | 'update' | 'delete', ids: string[][]): Promise<void> {
  const all = ids.flat();
  if (all.length === 0 || kind === 'delete') return;
  if (kind === 'create') return createdRowsShown(database, collection, all);
  // One statement that waits for nothing when no transaction holds the rows, as after an ordinary request. Otherwise
  // wait for one action's writer at a time: holding no lock while waiting, this read cannot deadlock with a writer.
  for (let waiting = ids.filter((part) => part.length > 0); waiting.length > 0; waiting = waiting.slice(1)) {
    try {
      await database(collection).whereRaw('id = ANY(?)', [waiting.flat()]).forShare().noWait().select('id');
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw err;
    }
    await database.transaction(async (trx) => {
      await trx.raw(`SET LOCAL lock_timeout = ${COMMIT_WAIT_MS}`);
      await trx(collection).where('id', waiting[0]![0]).forShare().select('id');
    });
  }
}

async function createdRowsShown(database: Knex, collection: string, ids: string[]): Promise<void> {
  const wanted = new Set(ids).size;
  const deadline = Date.now() + COMMIT_WAIT_MS;
  for (let pause = 10; ; pause = Math.min(pause * 2, 500)) {
    const [row] = await database(collection).whereRaw('id = ANY(?)', [ids]).count({ seen: '*' });
    if (Number(row?.['seen']) >= wanted || Date.now() >= deadline) return;
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}
