import type { PipelineOptions } from '../domain/pipeline/pipeline-context.ts';
import { DeliveryError, postFacts } from '../processor/facts-client.ts';
import { backfillParamsSchema } from './backfill/backfill-params.ts';
import { runBackfill } from './backfill/run-backfill.ts';
import { throwIfCancelled, type RunKind } from './job.ts';
import type { JobEngine, RunContext } from './job-runner.ts';
import { replayParamsSchema, type ReplayParams } from './replay/replay-params.ts';
import { runReplay, type ReplayBatch } from './replay/run-replay.ts';

/**
 * Apply mode's deliveries: each batch to `POST /pitwall/facts` with source `replay`, the same path as the live
 * processor's outbox. Retried while Directus is unreachable (the writes are keyed, so a repeat is harmless), until
 * the run is cancelled.
 */
export function factDelivery(ctx: RunContext): (batch: ReplayBatch) => Promise<void> {
  let sequence = 0;
  return async (batch) => {
    const body = { batch: `replay-${ctx.runId}-${sequence++}`, source: 'replay', ...batch };
    for (let backoff = 250; ; backoff = Math.min(backoff * 2, 10_000)) {
      throwIfCancelled(ctx.signal);
      try {
        return await postFacts(ctx.directus, body);
      } catch (error) {
        if (!(error instanceof DeliveryError)) throw error;
        ctx.log.warn({ err: error, retryInMs: backoff }, 'replay: delivering a batch failed; will retry');
        await new Promise((resolve) => setTimeout(resolve, backoff));
      }
    }
  };
}

/** The engines the job runner (and the CLI) run, with the racing rules of the live processor. */
export function jobEngines(pipelineOptions: Partial<PipelineOptions> = {}): Record<RunKind, JobEngine<any>> {
  return {
    replay: {
      params: replayParamsSchema,
      run: async (params: ReplayParams, ctx) => ({ ...(await runReplay(params, { ...ctx, deliver: factDelivery(ctx), pipelineOptions })) }),
    },
    backfill: {
      params: backfillParamsSchema,
      run: async (params, ctx) => ({ ...(await runBackfill(params, ctx)) }),
    },
  };
}
