import type { Accountability, ApiExtensionContext, SchemaOverview } from '@directus/types';
import { createError, ErrorCode, ForbiddenError, InvalidPayloadError, isDirectusError } from '@directus/errors';
import { isDeepStrictEqual } from 'node:util';
import type { ZodType } from 'zod';
import { backfillParamsSchema } from '../../../../src/jobs/backfill/backfill-params';
import { checkJobRequest } from '../../../../src/jobs/default-window';
import { isTerminal } from '../../../../src/jobs/job';
import { inFinalPhase } from '../../../../src/jobs/run-store';
import { replayParamsSchema } from '../../../../src/jobs/replay/replay-params';
import { RUN_HEARTBEAT_SECONDS } from './processor-status';
import { writePermission } from './write-guard';

/**
 * Replay and backfill runs as the bundle sees them: rows of `replay_runs` / `backfill_runs`, created, read and
 * cancelled through ItemsService as the caller (so only those Directus lets write runs may start one: admins by
 * default), worked on by the Pitwall job runner outside Directus.
 */
export type RunKind = 'replay' | 'backfill';
export const runKinds: RunKind[] = ['replay', 'backfill'];
export const runCollection = (kind: RunKind) => `${kind}_runs`;
export const runFields = ['id', 'status', 'params', 'progress', 'processed', 'total', 'result', 'error', 'started_at', 'finished_at', 'user_created', 'date_created'];

const paramsSchemas: Record<RunKind, ZodType> = { replay: replayParamsSchema, backfill: backfillParamsSchema };

export interface RunServices {
  services: ApiExtensionContext['services'];
  database: ApiExtensionContext['database'];
  schema: SchemaOverview;
  accountability: Accountability | null;
}

type Row = Record<string, unknown>;
export interface ParamIssue {
  code: string;
  path: PropertyKey[];
  message: string;
}

/**
 * The params of a run request, or its issues. Replays default to the window of the stage (or event) they name;
 * backfills need their range.
 */
export async function checkRunRequest(kind: RunKind, body: unknown, database: RunServices['database']): Promise<{ params: unknown; issues: null } | { params: null; issues: ParamIssue[] }> {
  return checkJobRequest(kind, body, database, paramsSchemas[kind]);
}

export const describeIssues = (issues: ParamIssue[]) => issues.map((issue) => `${issue.path.map(String).join('.') || '(body)'}: ${issue.message}`).join('; ');

/** The 400 naming each field of `issues`, as every run route and check answers one: the reason, and the issues. */
export const issuesRefusal = (issues: ParamIssue[]) => new InvalidPayloadError({ reason: describeIssues(issues), issues } as never);

const items = (kind: RunKind, ctx: RunServices) =>
  new ctx.services.ItemsService(runCollection(kind), { knex: ctx.database, schema: ctx.schema, accountability: ctx.accountability });

/** Queues a run (checked params) as the caller; Directus answers 403 for callers who may not create runs. */
export async function createRun(kind: RunKind, params: unknown, ctx: RunServices, requestKey: string | null = null): Promise<Row> {
  const service = items(kind, ctx);
  const id = await service.createOne({ status: 'queued', params, processed: 0, ...(requestKey === null ? {} : { request_key: requestKey }) });
  return readRun(kind, String(id), ctx);
}

/** 422: the caller's key names an earlier request that asked for something else. */
export const RequestKeyReusedError = createError(
  'PITWALL_REQUEST_KEY_REUSED',
  'Idempotency-Key: this key was sent before with other parameters (a run with those exists); send a new key with a new request',
  422,
);

/**
 * Queues a run as createRun does, once per request key of the caller: a request sent again with its key (its answer
 * was lost, a client or proxy retried) gets the run the first one made, `again: true`, also when both arrive at once
 * (the unique index on user and key lets one of them make it). The same key with other parameters is refused.
 */
export async function createRunOnce(kind: RunKind, params: unknown, ctx: RunServices, requestKey: string | null): Promise<{ run: Row; again: boolean }> {
  const user = ctx.accountability?.user;
  if (requestKey === null || !user) return { run: await createRun(kind, params, ctx), again: false };
  const earlier = () => ctx.database(runCollection(kind)).where({ user_created: user, request_key: requestKey }).first('id', 'params') as Promise<Row | undefined>;
  const answer = async (run: Row) => {
    if (!isDeepStrictEqual(asJson(run['params']), asJson(params))) throw new RequestKeyReusedError();
    return { run: await readRun(kind, String(run['id']), ctx), again: true };
  };
  const known = await earlier();
  if (known) return answer(known);
  try {
    return { run: await createRun(kind, params, ctx, requestKey), again: false };
  } catch (error) {
    const made = await earlier();
    if (!made) throw error;
    return answer(made);
  }
}

/** A value as its JSON reads back (params are stored as jsonb; pg hands json columns over as text on some drivers). */
const asJson = (value: unknown): unknown => (typeof value === 'string' ? JSON.parse(value) : JSON.parse(JSON.stringify(value ?? null)));

/** 404: no run has this id. */
export const RunNotFoundError = createError('PITWALL_RUN_NOT_FOUND', 'There is no run with this id', 404);

/**
 * The run as the caller may read it. Directus answers 403 for an item that does not exist (so that it tells no one
 * which ids exist); a caller who may read runs is told 404 instead, so a client can tell a wrong id from a lost
 * permission. A caller who may not read them at all still gets the 403.
 */
export async function readRun(kind: RunKind, id: string, ctx: RunServices): Promise<Row> {
  try {
    const run = countsAsNumbers((await items(kind, ctx).readOne(id, { fields: runFields })) as Row);
    return (await withRunnerSilence(kind, [run], ctx.database))[0]!;
  } catch (error) {
    if (isDirectusError(error, ErrorCode.Forbidden) && (await isMissingRun(kind, id, ctx))) throw new RunNotFoundError();
    throw error;
  }
}

/** Whether the caller may read runs of this kind and none has this id. */
async function isMissingRun(kind: RunKind, id: string, ctx: RunServices): Promise<boolean> {
  if (!(await writePermission(ctx.database)(runCollection(kind), 'read', ctx.accountability))) return false;
  return !(await ctx.database(runCollection(kind)).where({ id }).first('id'));
}

/**
 * The runs with `stalled_seconds`: for a run still marked running whose job runner has not beaten for
 * RUN_HEARTBEAT_SECONDS (a runner killed mid-run), how long it has been silent, by the database's clock; null for
 * every other run. Without it the replay panel read "Running 40%" for ever after its runner was gone.
 */
export async function withRunnerSilence(kind: RunKind, runs: Row[], database: RunServices['database']): Promise<Row[]> {
  const running = runs.filter((run) => run['status'] === 'running').map((run) => String(run['id']));
  const silent = new Map<string, number>();
  if (running.length > 0) {
    const rows: { id: string; silent: number }[] = await database(runCollection(kind))
      .whereIn('id', running)
      .andWhere('status', 'running')
      .andWhereRaw(`coalesce(heartbeat_at, started_at, date_created) <= now() - interval '${RUN_HEARTBEAT_SECONDS} seconds'`)
      .select('id', database.raw('extract(epoch FROM now() - coalesce(heartbeat_at, started_at, date_created))::float8 AS silent'));
    for (const row of rows) silent.set(String(row.id), Math.round(Number(row.silent)));
  }
  return runs.map((run) => ({ ...run, stalled_seconds: silent.get(String(run['id'])) ?? null }));
}

/**
 * `processed` and `total` are 8-byte columns (a large backfill can count past 2^31), which Directus answers as JSON
 * strings: the bundle answers them as numbers, as it does every time and count.
 */
export function countsAsNumbers(run: Row): Row {
  const count = (value: unknown) => (value === null || value === undefined ? value : Number(value));
  return { ...run, ...('processed' in run ? { processed: count(run['processed']) } : {}), ...('total' in run ? { total: count(run['total']) } : {}) };
}

/** 409: the run is in a phase that must not be stopped half-way (see markFinal). */
export const RunFinishingError = createError(
  'PITWALL_RUN_FINISHING',
  'The run is applying its changes and is not cancelled: stopped half-way, it would leave the stage half rewritten. It ends on its own once Directus has taken them; to stop it anyway (a delivery that keeps failing), an admin cancels with ?force=true and applies again later',
  409,
);

const forceReason = 'Only admins may force a cancel (?force=true): a replay stopped while it applies its changes leaves the stage half rewritten.';

/**
 * Cancels a queued or running run (the runner stops within about a second); a run that already ended is returned
 * as it is, also when it ends while this is asked (the row is read again under its lock, which the runner's writes
 * take too). A replay that has begun applying its changes is not stopped (RunFinishingError) unless an admin
 * `force`s it: anyone else asking to force gets 403, and the hook refuses them that cancel however it is written
 * (run-changes).
 */
export async function cancelRun(kind: RunKind, id: string, ctx: RunServices, force = false): Promise<Row> {
  if (force && ctx.accountability?.user && ctx.accountability.admin !== true) throw new ForbiddenError({ reason: forceReason } as never);
  const run = await readRun(kind, id, ctx);
  if (isTerminal(run['status'])) return run;
  await ctx.database.transaction(async (trx: any) => {
    const row = await trx(runCollection(kind)).where({ id }).forUpdate().first('status', 'checkpoint', 'attempts');
    if (!row || isTerminal(row.status)) return;
    if (inFinalPhase(row) && !force) throw new RunFinishingError();
    await new ctx.services.ItemsService(runCollection(kind), { knex: trx, schema: ctx.schema, accountability: ctx.accountability })
      .updateOne(id, { status: 'cancelled', finished_at: new Date().toISOString() });
  });
  return readRun(kind, id, ctx);
}

/** Polls the run's row until it ended or the time is up; returns the last row seen. */
export async function waitForRun(kind: RunKind, id: string, ctx: RunServices, timeoutMs: number): Promise<Row> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await readRun(kind, id, ctx);
    if (isTerminal(run['status']) || Date.now() >= deadline) return run;
    await new Promise((resolve) => setTimeout(resolve, Math.min(500, Math.max(0, deadline - Date.now()))));
  }
}

