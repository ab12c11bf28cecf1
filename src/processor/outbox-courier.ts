import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { FactChanges } from '../domain/pipeline/device-pipeline.ts';
import { claimOutbox, outboxAttemptFailed, outboxDelivered } from '../store/outbox.ts';

export interface CourierOptions {
  directusUrl: string;
  token: string;
  /** Outbox rows per request. */
  batchRows?: number;
  requestTimeoutMs?: number;
  idleMs?: number;
}

/** Directus answered that this batch can never be applied as it is: retrying would block every later batch. */
export class RejectedBatchError extends Error {
  override name = 'RejectedBatchError';
}

/** Directus or the network failed this time; the same batch is tried again. */
export class DeliveryError extends Error {
  override name = 'DeliveryError';
}

const permanent = new Set([400, 404, 409, 413, 422]);

/** Facts per request: Directus refuses request bodies over 1 MB by default. */
const CHUNK = 300;

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

  /** New rows were written: deliver now rather than after the idle wait. */
  nudge(): void {
    this.wake?.();
  }

  private async loop(): Promise<void> {
    let backoff = 250;
    while (!this.closing) {
      try {
        const sent = await this.deliverNext();
        backoff = 250;
        if (!sent) await this.idle(this.options.idleMs ?? 500);
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

  /** Delivers the oldest rows; false when there was nothing to deliver. */
  private async deliverNext(): Promise<boolean> {
    let rejected: { id: string; message: string } | null = null;
    const sent = await this.db.transaction(async (trx) => {
      const rows = await claimOutbox(trx, this.options.batchRows ?? 1);
      if (rows.length === 0) return false;
      for (const row of rows) {
        try {
          for (const [i, part] of chunks(row.payload).entries()) await this.post({ batch: `outbox-${row.id}-${i}`, source: row.source, ...part });
        } catch (error) {
          if (!(error instanceof RejectedBatchError)) throw error;
          rejected = { id: row.id, message: error.message };
          continue;
        }
      }
      await outboxDelivered(trx, rows.map((r) => r.id).filter((id) => id !== rejected?.id));
      return true;
    });
    if (rejected) {
      const { id, message } = rejected as { id: string; message: string };
      await outboxAttemptFailed(this.db, id, message, true);
      this.failed++;
      this.log.error({ outboxId: id, reason: message }, 'Directus rejected a fact batch; it is kept in pitwall_outbox with the reason');
    }
    if (sent) this.delivered++;
    return sent;
  }

  private async post(body: unknown): Promise<void> {
    let res: Response;
    try {
      res = await fetch(`${this.options.directusUrl}/pitwall/facts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.token}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 30_000),
      });
    } catch (error) {
      throw new DeliveryError(`Directus unreachable: ${(error as Error).message}`, { cause: error });
    }
    if (res.ok) return;
    const text = (await res.text()).slice(0, 1000);
    if (permanent.has(res.status)) throw new RejectedBatchError(`HTTP ${res.status}: ${text}`);
    throw new DeliveryError(`HTTP ${res.status}: ${text}`);
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
