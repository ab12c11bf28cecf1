import { DeliveryError, PayloadTooLargeError, postFacts } from '../../directus/directus-api.ts';
import { halves } from '../../directus/fact-request-halves.ts';
import { throwIfCancelled } from '../job.ts';
import type { RunContext } from '../job-runner.ts';
import type { ReplayBatch } from './replay-batches.ts';

export interface ReplayDeliveryOptions {
  /** Retry delays double from 250 ms up to this (default 15 s, as the outbox courier's). */
  maxBackoffMs?: number;
}

type ReplayRequest = ReplayBatch & { batch: string; source: 'replay' };

/** Resolves after `ms`, or at once when `signal` aborts. */
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * Apply mode's deliveries: each batch to `POST /pitwall/facts` with source `replay`, by the outbox courier's rules
 * (factsFailure): only the route's own validation answer fails the run. A 404 from a Directus being deployed, 401/403,
 * 5xx and the network are retried with capped backoff (the writes are keyed, so a repeat is harmless), while the
 * runner keeps the run's heartbeat; a batch Directus finds too large goes again in halves. A cancel stops the wait and a request
 * under way at once.
 */
export function replayDelivery(ctx: RunContext, options: ReplayDeliveryOptions = {}): (batch: ReplayBatch) => Promise<number> {
  const maxBackoffMs = options.maxBackoffMs ?? 15_000;
  const target = { ...ctx.directus, signal: ctx.signal };
  let sequence = 0;

  /** Resolves with the changes Directus skipped as superseded. */
  const send = async (request: ReplayRequest): Promise<number> => {
    for (let backoff = 250; ; backoff = Math.min(backoff * 2, maxBackoffMs)) {
      throwIfCancelled(ctx.signal);
      let failure: DeliveryError;
      try {
        const answer = (await postFacts(target, request)) as { data?: { superseded?: unknown } } | null;
        return typeof answer?.data?.superseded === 'number' ? answer.data.superseded : 0;
      } catch (error) {
        if (error instanceof PayloadTooLargeError) {
          const parts = halves(request);
          if (parts) {
            ctx.log.info({ batch: request.batch, facts: request.upserts.length + request.removals.length }, 'replay: Directus found a batch too large; sending it in halves');
            let superseded = 0;
            for (const part of parts) superseded += await send(part);
            return superseded;
          }
          // One fact over the limit: Directus's MAX_PAYLOAD_SIZE is set too low for it, not the batch's fault.
          failure = new DeliveryError(`one fact is over Directus's request size limit (MAX_PAYLOAD_SIZE): ${error.message}`);
        } else if (error instanceof DeliveryError) {
          failure = error;
        } else {
          throw error;
        }
      }
      throwIfCancelled(ctx.signal);
      ctx.log.warn({ err: failure, batch: request.batch, retryInMs: backoff }, 'replay: delivering a batch failed; will retry');
      await sleep(backoff, ctx.signal);
    }
  };
  return (batch) => send({ batch: `replay-${ctx.runId}-${sequence++}`, source: 'replay', ...batch });
}
