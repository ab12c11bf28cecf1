import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { FactChanges } from '../domain/pipeline/device-pipeline.ts';
import { mergeChanges } from '../domain/pipeline/merge-changes.ts';
import { claimOutbox, outboxAttemptFailed, outboxDelivered, type OutboxRow } from '../store/outbox.ts';
import { postFacts, RejectedBatchError } from './facts-client.ts';

export interface CourierOptions {
  directusUrl: string;
  token: string;
  /** Outbox rows claimed at once (default 50); consecutive rows of one source go in one request. */
  batchRows?: number;
  requestTimeoutMs?: number;
  idleMs?: number;
}

/** Facts per request: Directus refuses request bodies over 1 MB by default. */
const CHUNK = 300;

/** Outbox rows claimed at once; see deliverNext. */
const BATCH_ROWS = 50;

/** Consecutive rows of one source, up to about CHUNK facts per group (a larger row goes alone and is split). */
function groups(rows: OutboxRow[]): OutboxRow[][] {
  const out: OutboxRow[][] = [];
  let size = 0;
  for (const row of rows) {
    const facts = row.payload.upserts.length + row.payload.retractions.length;
    const last = out.at(-1);
    if (last && last[0]!.source === row.source && size + facts <= CHUNK) {
      last.push(row);
      size += facts;
    } else {
      out.push([row]);
      size = facts;
    }
  }
  return out;
}

/**
 * Splits a large batch (a device rebuilt from hours of positions) into requests Directus accepts. Retractions go
 * first; a key is never both retracted and upserted in one batch, so the order between parts does not matter.
 */
function chunks(changes: FactChanges): FactChanges[] {
  const parts: FactChanges[] = [];
  for (let i = 0; i < changes.retractions.length; i += CHUNK) parts.push({ upserts: [], retractions: changes.retractions.slice(i, i + CHUNK) });
  for (let i = 0; i < changes.upserts.length; i += CHUNK) parts.push({ upserts: changes.upserts.slice(i, i + CHUNK), retractions: [] });
  return parts;
}

/**
 * Delivers the outbox to the bundle's endpoint, oldest first, one request at a time, with the processor's static
 * token. A row is deleted only in the transaction that saw Directus accept it, so a crash in between delivers it
 * again, which the endpoint's keyed writes make harmless.
 */
export class OutboxCourier {
  private running: Promise<void> | null = null;
  private closing = false;
  private wake: (() => void) | null = null;
  private nudged = false;
  delivered = 0;
  failed = 0;

  constructor(
    private readonly db: Knex,
    private readonly options: CourierOptions,
    private readonly log: Logger,
  ) {}

  run(): Promise<void> {
    if (this.running) throw new Error('courier is already running');
    this.running = this.loop();
    return this.running;
  }

  /** New rows were written: deliver now rather than after the idle wait, even if the nudge comes mid-delivery. */
  nudge(): void {
    this.nudged = true;
    this.wake?.();
  }

  private async loop(): Promise<void> {
    let backoff = 250;
    while (!this.closing) {
      try {
        this.nudged = false;
        const sent = await this.deliverNext();
        backoff = 250;
        // A nudge during that delivery may be for rows it did not see: look again at once.
        if (!sent && !this.nudged) await this.idle(this.options.idleMs ?? 500);
      } catch (error) {
        this.log.warn({ err: error, retryInMs: backoff }, 'outbox delivery failed; will retry');
        await this.idle(backoff);
        backoff = Math.min(backoff * 2, 15_000);
      }
    }
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  /**
   * Delivers the oldest rows; false when there was nothing to deliver. Rows that piled up while a request was out
   * go together, merged in order (one request, one Directus transaction, instead of one each); a group Directus
   * rejects is sent again row by row, so only the row it cannot apply is kept back.
   */
  private async deliverNext(): Promise<boolean> {
    const rejected: { id: string; message: string }[] = [];
    const sent = await this.db.transaction(async (trx) => {
      const rows = await claimOutbox(trx, this.options.batchRows ?? BATCH_ROWS);
      if (rows.length === 0) return false;
      for (const group of groups(rows)) {
        try {
          await this.postRows(group);
        } catch (error) {
          if (!(error instanceof RejectedBatchError)) throw error;
          for (const row of group.length === 1 ? [] : group) {
            try {
              await this.postRows([row]);
            } catch (rowError) {
              if (!(rowError instanceof RejectedBatchError)) throw rowError;
              rejected.push({ id: row.id, message: rowError.message });
            }
          }
          if (group.length === 1) rejected.push({ id: group[0]!.id, message: error.message });
        }
      }
      const kept = new Set(rejected.map((r) => r.id));
      await outboxDelivered(trx, rows.map((r) => r.id).filter((id) => !kept.has(id)));
      return true;
    });
    for (const { id, message } of rejected) {
      await outboxAttemptFailed(this.db, id, message, true);
      this.failed++;
      this.log.error({ outboxId: id, reason: message }, 'Directus rejected a fact batch; it is kept in pitwall_outbox with the reason');
    }
    if (sent) this.delivered++;
    return sent;
  }

  private async postRows(rows: OutboxRow[]): Promise<void> {
    const first = rows[0]!;
    const changes = rows.length === 1 ? first.payload : mergeChanges(rows.map((r) => r.payload));
    const name = rows.length === 1 ? first.id : `${first.id}-${rows.at(-1)!.id}`;
    for (const [i, part] of chunks(changes).entries()) await this.post({ batch: `outbox-${name}-${i}`, source: first.source, ...part });
  }

  private post(body: unknown): Promise<void> {
    return postFacts(this.options, body);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.wake?.();
    try {
      await this.running;
    } catch (error) {
      this.log.error({ err: error }, 'courier ended with an error');
    }
  }
}
