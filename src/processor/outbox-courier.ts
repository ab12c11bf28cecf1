import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { claimOutbox, outboxAttemptFailed, outboxDelivered, type OutboxRow } from '../store/outbox.ts';
import { DeliveryError, PayloadTooLargeError, postFacts, RejectedBatchError } from '../directus/directus-api.ts';
import { halves } from '../directus/fact-request-halves.ts';
import { groupRequests, outboxGroups, type FactsRequest } from './outbox-requests.ts';

export interface CourierOptions {
  directusUrl: string;
  token: string;
  /** Outbox rows claimed at once (default 50); consecutive rows of one source go in one request. */
  batchRows?: number;
  requestTimeoutMs?: number;
  idleMs?: number;
  /** Retry delays double from 250 ms up to this (default 15 s). */
  maxBackoffMs?: number;
  /**
   * The least time between two requests now, in ms (0: none, each batch's facts go at once). The processor paces
   * the courier while it drains a backlog (see PROCESSOR_BACKLOG_FACTS_MS).
   */
  pace?: () => number;
}

/** Outbox rows claimed at once; see deliverNext. */
const BATCH_ROWS = 50;

/** What one claim of rows came to. */
interface Round {
  claimed: number;
  parked: { id: string; message: string }[];
  /** The rows whose request failed in a way that may pass later, and why; the rest of the round went through. */
  retry: { rows: OutboxRow[]; error: Error } | null;
}

/**
 * Delivers the outbox to the bundle's endpoint, oldest first, one request at a time, with the processor's static
 * token. A row is deleted only in the transaction that saw Directus accept it, so a crash in between delivers it
 * again, which the endpoint's keyed writes make harmless. Every request carries the id of its newest row as its
 * ordering number, so a row sent again (after a failure part-way, in another grouping, or redriven) never brings
 * back an older value of a fact than Directus already holds.
 *
 * Only the facts route's own validation answer parks a row (kept with `failed_at` and the reason until
 * `pitwall outbox redrive`); anything else is retried with capped backoff, the attempt and its reason recorded.
 *
 * Paced (`pace`), it waits that long after each request, nudged or not, so that the rows of many batches go in one
 * request: Directus then spends one request's fixed cost (authentication, permissions, a transaction) on all of
 * them. A nudge once the pace is back at 0 ends the wait.
 */
export class OutboxCourier {
  private running: Promise<void> | null = null;
  private closing = false;
  private wake: (() => void) | null = null;
  private nudged = false;
  /** Waiting out the pace: only a nudge after the pace went back to 0 (or close) ends the wait. */
  private pacing = false;
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
    if (!this.pacing || this.paceMs() === 0) this.wake?.();
  }

  private paceMs(): number {
    return this.options.pace?.() ?? 0;
  }

  private async loop(): Promise<void> {
    let backoff = 250;
    while (!this.closing) {
      try {
        this.nudged = false;
        const sent = await this.deliverNext();
        backoff = 250;
        const pace = sent ? this.paceMs() : 0;
        if (pace > 0) {
          this.pacing = true;
          await this.idle(pace).finally(() => (this.pacing = false));
        }
        // A nudge during that delivery may be for rows it did not see: look again at once.
        else if (!sent && !this.nudged) await this.idle(this.options.idleMs ?? 500);
      } catch (error) {
        this.log.warn({ err: error, retryInMs: backoff }, 'outbox delivery failed; will retry');
        await this.idle(backoff);
        backoff = Math.min(backoff * 2, this.options.maxBackoffMs ?? 15_000);
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
   * refuses as invalid is sent again row by row, so only the row it cannot apply is parked. When a request fails
   * otherwise, what went through before it is committed and the failure thrown (the loop backs off).
   */
  private async deliverNext(): Promise<boolean> {
    const round = await this.db.transaction(async (trx): Promise<Round> => {
      const rows = await claimOutbox(trx, this.options.batchRows ?? BATCH_ROWS);
      const round: Round = { claimed: rows.length, parked: [], retry: null };
      const delivered: string[] = [];
      for (const group of outboxGroups(rows)) {
        const failure = await this.attempt(group);
        if (failure === null) {
          delivered.push(...group.map((r) => r.id));
          continue;
        }
        if (failure instanceof RejectedBatchError && group.length > 1) {
          for (const row of group) {
            const rowFailure = await this.attempt([row]);
            if (rowFailure === null) delivered.push(row.id);
            else if (rowFailure instanceof RejectedBatchError) round.parked.push({ id: row.id, message: rowFailure.message });
            else {
              round.retry = { rows: [row], error: rowFailure };
              break;
            }
          }
        } else if (failure instanceof RejectedBatchError) {
          round.parked.push({ id: group[0]!.id, message: failure.message });
        } else {
          round.retry = { rows: group, error: failure };
        }
        if (round.retry) break;
      }
      await outboxDelivered(trx, delivered);
      for (const { id, message } of round.parked) await outboxAttemptFailed(trx, id, message, true);
      if (round.retry) await outboxAttemptFailed(trx, round.retry.rows.map((r) => r.id), round.retry.error.message, false);
      return round;
    });
    for (const { id, message } of round.parked) {
      this.failed++;
      this.log.error({ outboxId: id, reason: message }, 'Directus refused a fact batch as invalid; it is parked in pitwall_outbox (see pitwall outbox list)');
    }
    if (round.retry) throw round.retry.error;
    if (round.claimed > 0) this.delivered++;
    return round.claimed > 0;
  }

  /** Sends the rows' requests in order; the first failure, or null when all went through. */
  private async attempt(rows: OutboxRow[]): Promise<Error | null> {
    try {
      for (const request of groupRequests(rows)) await this.send(request);
      return null;
    } catch (error) {
      if (error instanceof RejectedBatchError || error instanceof DeliveryError) return error;
      throw error;
    }
  }

  /** One request; one Directus found too large goes again as two halves (same ordering number). */
  private async send(request: FactsRequest): Promise<void> {
    try {
      await postFacts(this.options, request);
    } catch (error) {
      if (!(error instanceof PayloadTooLargeError)) throw error;
      const parts = halves(request);
      // One fact over the limit: Directus's MAX_PAYLOAD_SIZE is set too low for it. Not the batch's fault: retried.
      if (!parts) throw new DeliveryError(`one fact is over Directus's request size limit (MAX_PAYLOAD_SIZE): ${error.message}`);
      this.log.info({ batch: request.batch, facts: request.upserts.length + request.retractions.length }, 'Directus found a fact request too large; sending it in halves');
      for (const part of parts) await this.send(part);
    }
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
