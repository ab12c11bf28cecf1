import type { Accountability } from '@directus/types';
import { newRunIssues } from './new-run';
import { checkRunRequest, issuesRefusal, runCollection, type ParamIssue, type RunKind } from './runs';
import { parsedOrText, writePermission } from './write-guard';

type Row = Record<string, unknown>;
type CallerCheck = (accountability: Accountability | null | undefined) => Promise<boolean>;

/**
 * A run queued by a person through `POST /items/<kind>_runs` (the admin app, a script, a Flow acting as them) is
 * checked as `POST /pitwall/<kind>` checks it, so it runs as one queued there: params the endpoint would refuse get
 * the same 400, naming `params.<field>`, instead of a run that fails in the runner; the params stored are the
 * checked ones (a stage implies its event, the stage's window fills `from`/`to`); a run starts queued and holds
 * nothing of the runner's. The endpoint's own runs come through here too (it creates them as the caller), with
 * params it has checked already, which check again to the same.
 *
 * Not checked: the system's writes and the processor's (the pipeline's, not a person's), and callers none of whose
 * policies may create runs, left to Directus's 403 so they learn nothing of what a run needs.
 */
export function runCreateGuard(database: any, isProcessor: CallerCheck) {
  const mayCreate = writePermission(database);
  return async (kind: RunKind, payload: Row, accountability: Accountability | null | undefined, knex?: any): Promise<Row> => {
    if (!accountability?.user || (await isProcessor(accountability))) return payload;
    if (!(await mayCreate(runCollection(kind), 'create', accountability))) return payload;
    const checked = await checkRunRequest(kind, paramsOf(payload['params']), knex ?? database);
    const issues = [...newRunIssues(payload), ...(checked.issues ?? []).map(underParams)];
    if (issues.length > 0) throw issuesRefusal(issues);
    return { ...payload, params: checked.params };
  };
}

/**
 * A person's change of runs' `params` (`PATCH /items/<kind>_runs`, the admin app's item page) is checked as a new
 * run's are, and allowed only while every run changed is still queued: the params of a run that started or ended
 * are the record of what it was asked to do (its progress and result were made with them). Its `request_key` is the
 * Idempotency-Key it was asked with and does not change. The system's writes and callers who may not update runs
 * are left alone, as for creation.
 */
export function runParamsChangeGuard(database: any, isProcessor: CallerCheck) {
  const mayUpdate = writePermission(database);
  return async (kind: RunKind, keys: string[], payload: Row, accountability: Accountability | null | undefined, knex?: any): Promise<Row> => {
    if (!('params' in payload) && !('request_key' in payload)) return payload;
    if (!accountability?.user || keys.length === 0 || (await isProcessor(accountability))) return payload;
    if (!(await mayUpdate(runCollection(kind), 'update', accountability))) return payload;
    const issues: ParamIssue[] = [];
    if ('request_key' in payload) issues.push({ code: 'custom', path: ['request_key'], message: 'a run keeps the Idempotency-Key it was asked with' });
    let params = payload['params'];
    if ('params' in payload) {
      const started: { id: unknown; status: unknown }[] = await (knex ?? database)(runCollection(kind)).whereIn('id', keys).whereNot('status', 'queued').select('id', 'status');
      for (const run of started) issues.push({ code: 'custom', path: ['params'], message: `the run ${String(run.id)} is ${String(run.status)}, no longer queued: its params are the record of what it was asked to do` });
      const checked = started.length > 0 ? null : await checkRunRequest(kind, paramsOf(params), knex ?? database);
      issues.push(...(checked?.issues ?? []).map(underParams));
      if (checked?.params) params = checked.params;
    }
    if (issues.length > 0) throw issuesRefusal(issues);
    return { ...payload, params };
  };
}

/** Params as Postgres would store them: a JSON text is the value it spells (a jsonb column parses it). */
const paramsOf = (params: unknown): unknown => (typeof params === 'string' ? parsedOrText(params) : params);

const underParams = (issue: ParamIssue): ParamIssue => ({ ...issue, path: ['params', ...issue.path] });
