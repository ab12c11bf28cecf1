import type { Knex } from 'knex';
import type { FactChanges } from '../domain/pipeline/device-pipeline.ts';
import type { Statement } from './copy-rows.ts';

export interface OutboxRow {
  id: string;
  source: 'live' | 'replay';
  payload: FactChanges;
  attempts: number;
}

/** Adds one batch of fact changes; call it inside the transaction that stores the positions they came from. */
export async function enqueueFacts(db: Knex, changes: FactChanges, source: OutboxRow['source'] = 'live'): Promise<void> {
  const statement = enqueueFactsStatement(changes, source);
  if (statement) await db.raw(statement.sql, statement.bindings);
}

/** enqueueFacts as one statement (see storeLiveBatch); null when there is nothing to enqueue. */
export function enqueueFactsStatement(changes: FactChanges, source: OutboxRow['source'] = 'live'): Statement | null {
  if (changes.upserts.length === 0 && changes.retractions.length === 0) return null;
  return { sql: 'INSERT INTO pitwall_outbox (source, payload) VALUES (?, ?::jsonb)', bindings: [source, JSON.stringify(changes)] };
}

/**
 * The oldest batches not yet delivered nor parked, locked so that a second processor instance delivers other rows
 * (or waits) rather than the same ones. Use inside a transaction.
 */
export async function claimOutbox(trx: Knex.Transaction, limit: number): Promise<OutboxRow[]> {
  const rows = await trx('pitwall_outbox')
    .select('id', 'source', 'payload', 'attempts')
    .whereNull('failed_at')
    .orderBy('id')
    .limit(limit)
    .forUpdate()
    .skipLocked();
  return rows.map((r) => ({ ...r, id: String(r.id) }));
}

export async function outboxDelivered(trx: Knex, ids: string[]): Promise<void> {
  if (ids.length > 0) await trx('pitwall_outbox').whereIn('id', ids).delete();
}

/**
 * Records a failed attempt on rows with its reason. `park`: Directus refused the rows for good; they are kept
 * (`failed_at`) out of delivery until an operator redrives them. Otherwise they stay in line and are retried.
 */
export async function outboxAttemptFailed(db: Knex, ids: string | string[], error: string, park: boolean): Promise<void> {
  const list = typeof ids === 'string' ? [ids] : ids;
  if (list.length === 0) return;
  await db('pitwall_outbox')
    .whereIn('id', list)
    .update({ attempts: db.raw('attempts + 1'), last_error: error.slice(0, 2000), ...(park ? { failed_at: db.fn.now() } : {}) });
}

export async function outboxPending(db: Knex): Promise<number> {
  const [row] = await db('pitwall_outbox').whereNull('failed_at').count<{ count: string }[]>('* as count');
  return Number(row?.count ?? 0);
}

export interface OutboxState {
  /** Rows waiting for delivery. */
  pending: number;
  /** Rows Directus refused for good, kept until redriven. */
  parked: number;
  /** Age of the oldest waiting row (0 when none waits). */
  oldestPendingSeconds: number;
}

/** The outbox in one statement, for /healthz and /metrics. */
export async function outboxState(db: Knex): Promise<OutboxState> {
  const { rows } = await db.raw(`
    SELECT count(*) FILTER (WHERE failed_at IS NULL) AS pending,
           count(*) FILTER (WHERE failed_at IS NOT NULL) AS parked,
           coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE failed_at IS NULL)), 0) AS oldest
      FROM pitwall_outbox`);
  const [row] = rows as { pending: string; parked: string; oldest: string | number }[];
  return { pending: Number(row?.pending ?? 0), parked: Number(row?.parked ?? 0), oldestPendingSeconds: Math.max(0, Number(row?.oldest ?? 0)) };
}

export interface OutboxListing {
  id: string;
  createdAt: Date;
  source: OutboxRow['source'];
  /** Upserts and retractions in the row. */
  facts: number;
  attempts: number;
  lastError: string | null;
  /** When it was parked; null for a row still in line (a row retried after failed attempts). */
  failedAt: Date | null;
}

const listingColumns = (db: Knex) => [
  'id', 'created_at', 'source', 'attempts', 'last_error', 'failed_at',
  db.raw(`jsonb_array_length(coalesce(payload->'upserts', '[]')) + jsonb_array_length(coalesce(payload->'retractions', '[]')) AS facts`),
];

const toListing = (row: Record<string, unknown>): OutboxListing => ({
  id: String(row['id']),
  createdAt: new Date(row['created_at'] as string),
  source: row['source'] as OutboxRow['source'],
  facts: Number(row['facts']),
  attempts: Number(row['attempts']),
  lastError: (row['last_error'] as string | null) ?? null,
  failedAt: row['failed_at'] ? new Date(row['failed_at'] as string) : null,
});

/** Parked rows, and rows in line that have failed attempts (what an operator wants to see), oldest first. */
export async function troubledOutboxRows(db: Knex, limit = 1000): Promise<OutboxListing[]> {
  const rows = await db('pitwall_outbox')
    .select(listingColumns(db))
    .whereNotNull('failed_at')
    .orWhere('attempts', '>', 0)
    .orderBy('id')
    .limit(limit);
  return rows.map(toListing);
}

/**
 * Puts parked rows back in line (all of them, or those of `ids`): the courier sends them again, in id order. Their
 * reason and attempts stay until they are delivered. Returns the rows redriven, as they were.
 */
export async function redriveOutbox(db: Knex, ids?: readonly string[]): Promise<OutboxListing[]> {
  return db.transaction(async (trx) => {
    let query = trx('pitwall_outbox').select(listingColumns(trx)).whereNotNull('failed_at').orderBy('id').forUpdate();
    if (ids) query = query.whereIn('id', [...ids]);
    const rows = (await query).map(toListing);
    if (rows.length > 0) await trx('pitwall_outbox').whereIn('id', rows.map((r) => r.id)).update({ failed_at: null });
    return rows;
  });
}
