import type { Knex } from 'knex';

/** What one processor instance reports about itself (a row of `pitwall_processor_status`). */
export interface ProcessorStatus {
  instance: string;
  startedAt: Date;
  healthy: boolean;
  reasons: string[];
  positionsStoredTotal: number;
  /** Over the last minute; null until the process has a second sample. */
  positionsPerMinute: number | null;
  /** Null: could not be read (Redis or Postgres down). */
  lag: number | null;
  pending: number | null;
  oldestPendingSeconds: number | null;
  /** Null for a process without race timing (it has no outbox). */
  outboxPending: number | null;
  outboxParked: number | null;
  deadLettersTotal: number;
  deadLettersPerMinute: number | null;
}

/** Replaces the instance's row, stamped with the database's clock (so readers on other machines compare like with like). */
export async function writeProcessorStatus(db: Knex, status: ProcessorStatus): Promise<void> {
  await db.raw(
    `INSERT INTO pitwall_processor_status AS s
       (instance, started_at, updated_at, healthy, reasons, positions_stored_total, positions_per_minute, lag, pending,
        oldest_pending_seconds, outbox_pending, outbox_parked, dead_letters_total, dead_letters_per_minute)
     VALUES (?, ?, now(), ?, ?::jsonb, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (instance) DO UPDATE SET
       started_at = excluded.started_at, updated_at = excluded.updated_at, healthy = excluded.healthy, reasons = excluded.reasons,
       positions_stored_total = excluded.positions_stored_total, positions_per_minute = excluded.positions_per_minute,
       lag = excluded.lag, pending = excluded.pending, oldest_pending_seconds = excluded.oldest_pending_seconds,
       outbox_pending = excluded.outbox_pending, outbox_parked = excluded.outbox_parked,
       dead_letters_total = excluded.dead_letters_total, dead_letters_per_minute = excluded.dead_letters_per_minute`,
    [
      status.instance, status.startedAt, status.healthy, JSON.stringify(status.reasons), status.positionsStoredTotal, status.positionsPerMinute,
      status.lag, status.pending, status.oldestPendingSeconds, status.outboxPending, status.outboxParked, status.deadLettersTotal,
      status.deadLettersPerMinute,
    ],
  );
}

/** Takes the instance's row away: it stopped on purpose. */
export async function removeProcessorStatus(db: Knex, instance: string): Promise<void> {
  await db('pitwall_processor_status').where({ instance }).delete();
}
