/**
 * The thread behind BatchWriter (see batch-writer.ts): writes one batch at a time on a connection of its own, in one
 * transaction, and commits only when the processor's thread says so. Its event loop has nothing else to do, so
 * Postgres is answered at once between the statements of a batch.
 *
 * Plain TypeScript (types only), importing nothing of the project's but copy-rows.ts (types only too): Node runs it
 * as it is, under tsx or not.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { copyInto } from './copy-rows.ts';
import type { FromMain, ThreadError, ToMain, WriterOptions } from './batch-writer-messages.ts';

const UNIQUE_VIOLATION = '23505';
/** The DatabaseError fields the processor reads (isRowRefusal, refusalText, logs). */
const ERROR_FIELDS = ['code', 'detail', 'hint', 'severity', 'schema', 'table', 'column', 'constraint', 'where', 'routine'] as const;

const options = workerData as WriterOptions;
const port = parentPort!;
let client: pg.Client | null = null;
/** The answer awaited for the batch written last: commit or roll back. */
let decided: { id: number; resolve: (commit: boolean) => void } | null = null;
let queue: Promise<void> = Promise.resolve();

function send(message: ToMain): void {
  port.postMessage(message);
}

async function connection(): Promise<pg.Client> {
  if (client) return client;
  const fresh = new pg.Client({ connectionString: options.databaseUrl, application_name: options.application, statement_timeout: options.statementTimeoutMs });
  // A connection the server drops while idle (a restart) is replaced at the next batch.
  fresh.on('error', () => {
    if (client === fresh) client = null;
  });
  await fresh.connect();
  client = fresh;
  return fresh;
}

function asThreadError(error: unknown): ThreadError {
  const source = error as Record<string, unknown>;
  const fields: Record<string, string> = {};
  for (const field of ERROR_FIELDS) if (typeof source?.[field] === 'string') fields[field] = source[field] as string;
  return { message: error instanceof Error ? error.message : String(error), database: error instanceof pg.DatabaseError, fields };
}

/** After a failure: a statement error leaves the connection usable once rolled back; anything else, it is dropped. */
async function abandon(used: pg.Client, error: unknown): Promise<void> {
  if (error instanceof pg.DatabaseError) {
    try {
      await used.query('ROLLBACK');
      return;
    } catch {
      // fall through: the connection is no good
    }
  }
  if (client === used) client = null;
  await used.end().catch(() => undefined);
}

async function write(message: Extract<FromMain, { kind: 'write' }>): Promise<void> {
  let used: pg.Client | null = null;
  let copying = false;
  try {
    used = await connection();
    await used.query('BEGIN');
    copying = true;
    for (const { target, start, end } of message.copies) await copyInto(used, target, [Buffer.from(message.bytes, start, end - start)]);
    copying = false;
    for (const { sql, values } of message.statements) await used.query(sql, values);
    const commit = await new Promise<boolean>((resolve) => {
      decided = { id: message.id, resolve };
      send({ kind: 'written', id: message.id });
    });
    await used.query(commit ? 'COMMIT' : 'ROLLBACK');
    send({ kind: 'done', id: message.id, outcome: commit ? 'committed' : 'rolled-back' });
  } catch (error) {
    if (used) await abandon(used, error);
    const duplicate = copying && error instanceof pg.DatabaseError && error.code === UNIQUE_VIOLATION;
    send(duplicate ? { kind: 'done', id: message.id, outcome: 'duplicate' } : { kind: 'failed', id: message.id, error: asThreadError(error) });
  }
}

port.on('message', (message: FromMain) => {
  switch (message.kind) {
    case 'write':
      queue = queue.then(() => write(message));
      break;
    case 'decide':
      if (decided?.id !== message.id) break;
      decided.resolve(message.commit);
      decided = null;
      break;
    case 'close':
      void queue.then(async () => {
        await client?.end().catch(() => undefined);
        port.close();
      });
      break;
  }
});
