import type { PipelineOptions } from '../domain/pipeline/pipeline-context.ts';
import { backfillParamsSchema } from './backfill/backfill-params.ts';
import { runBackfill } from './backfill/run-backfill.ts';
import type { RunKind } from './job.ts';
import type { JobEngine } from './job-runner.ts';
import { replayParamsSchema, type ReplayParams } from './replay/replay-params.ts';
import { replayDelivery } from './replay/replay-delivery.ts';
import { runReplay } from './replay/run-replay.ts';

/** The engines the job runner (and the CLI) run, with the racing rules of the live processor. */
export function jobEngines(pipelineOptions: Partial<PipelineOptions> = {}): Record<RunKind, JobEngine<any>> {
  return {
    replay: {
      params: replayParamsSchema,
      run: async (params: ReplayParams, ctx) => ({ ...(await runReplay(params, { ...ctx, deliver: replayDelivery(ctx), pipelineOptions })) }),
    },
    backfill: {
      params: backfillParamsSchema,
      run: async (params, ctx) => ({ ...(await runBackfill(params, ctx)) }),
    },
  };
}
