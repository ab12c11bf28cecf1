import { ForbiddenError } from '@directus/errors';
import type { Accountability, EndpointExtensionContext, SchemaOverview } from '@directus/types';
import type { NextFunction, Request, Response } from 'express';
import { z } from 'zod';
import { pipelineCallerCheck } from '../shared/role-callers';
import { issuesRefusal, runCollection, RunNotFoundError, type ParamIssue, type RunKind } from '../shared/runs';
import { UnauthenticatedError } from './facts-route';
import { recordId } from '../../../../src/domain/uuid-text.ts';

type DirectusRequest = Request & { accountability?: Accountability | null; schema?: SchemaOverview };

const endSchema = z.strictObject({
  run: recordId(),
  status: z.enum(['succeeded', 'failed']),
  error: z.string().max(10_000).nullable().optional(),
});

/**
 * `POST /pitwall/<kind>/:run/end` `{status: "succeeded" | "failed", error?}`: the job runner records how a run ended.
 * Only admins and the processor's role may (the runner uses the processor's token, whose role has no permission on
 * runs at all): Directus 12 without a licence cannot limit a permission to some fields, so this route is what keeps
 * the runner to the fields that record an end, on every Directus version. The end is written through ItemsService
 * (as the system), so the hook hears it and emits `replay.completed` / `backfill.completed`, and Flows on the run
 * collection see it too. The result is not part of it: the runner stores it in the row first, as it can be larger
 * than a request Directus accepts. 200 `{run: {id, status}, recorded}`, `recorded` false when the run was no longer
 * running (cancelled meanwhile, or its end recorded already by a runner that did not get the answer). 404
 * PITWALL_RUN_NOT_FOUND, as the runs' other routes answer, when no run has this id (deleted while it ran): the runner
 * then finds the run gone from its table and stops asking (JobRunner.finish).
 */
export function runEndRoute(kind: RunKind, { services, database, getSchema, logger }: EndpointExtensionContext) {
  const mayRecordEnds = pipelineCallerCheck(database);
  return async (req: DirectusRequest, res: Response, next: NextFunction): Promise<void> => {
    const accountability = req.accountability ?? null;
    if (!accountability?.user) return next(new UnauthenticatedError());
    if (!(await mayRecordEnds(accountability))) return next(new ForbiddenError());
    const parsed = endSchema.safeParse({ ...(req.body ?? {}), run: req.params['run'] });
    if (!parsed.success) return next(issuesRefusal(parsed.error.issues as ParamIssue[]));

    const { run, status, error } = parsed.data;
    const runs = new services.ItemsService(runCollection(kind), { knex: database, schema: req.schema ?? (await getSchema()), accountability: null });
    const end = { status, finished_at: new Date().toISOString(), error: error ?? null, ...(status === 'succeeded' ? { progress: 1 } : {}) };
    // Only while running, so that a cancel is never overwritten and an end is recorded (and announced) once.
    const keys = await runs.updateByQuery({ filter: { id: { _eq: run }, status: { _eq: 'running' } } }, end);
    const recorded = keys.length > 0;
    logger.info({ kind, run, status, recorded, user: accountability.user }, `pitwall: ${kind} run end`);
    const row = (await database(runCollection(kind)).where('id', run).first('id', 'status')) ?? null;
    if (!row) return next(new RunNotFoundError());
    res.json({ run: row, recorded });
  };
}
