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
 * The oldest batches not yet delivered nor given up on, locked so that a second processor instance delivers
 * other rows (or waits) rather than the same ones. Use inside a transaction.
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

export async function outboxDelivered(trx: Knex.Transaction, ids: string[]): Promise<void> {
  await trx('pitwall_outbox').whereIn('id', ids).delete();
}

export async function outboxAttemptFailed(db: Knex, id: string, error: string, giveUp: boolean): Promise<void> {
  await db('pitwall_outbox')
    .where({ id })
    .update({ attempts: db.raw('attempts + 1'), last_error: error.slice(0, 2000), ...(giveUp ? { failed_at: db.fn.now() } : {}) });
}

export async function outboxPending(db: Knex): Promise<number> {
  const [row] = await db('pitwall_outbox').whereNull('failed_at').count<{ count: string }[]>('* as count');
  return Number(row?.count ?? 0);
}
