import { InvalidPayloadError } from '@directus/errors';
import type { Accountability } from '@directus/types';
import { newRunIssues } from './new-run';
import { checkRunRequest, describeIssues, runCollection, type ParamIssue, type RunKind } from './runs';
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
    if (issues.length > 0) throw new InvalidPayloadError({ reason: describeIssues(issues), issues } as never);
    return { ...payload, params: checked.params };
  };
}

/** Params as Postgres would store them: a JSON text is the value it spells (a jsonb column parses it). */
const paramsOf = (params: unknown): unknown => (typeof params === 'string' ? parsedOrText(params) : params);

const underParams = (issue: ParamIssue): ParamIssue => ({ ...issue, path: ['params', ...issue.path] });
