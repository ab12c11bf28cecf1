import type { Accountability, ApiExtensionContext, SchemaOverview } from '@directus/types';
import { bodyOfOptions, RunParamsError, waitOption, waitTimeoutMs, type RunOperationOptions } from '../../../../src/jobs/run-options';
import { checkRunRequest, createRun, describeIssues, waitForRun, type RunKind } from './runs';


interface OperationContext {
  services: ApiExtensionContext['services'];
  database: ApiExtensionContext['database'];
  getSchema: () => Promise<SchemaOverview>;
  accountability: Accountability | null;
}

export type { RunOperationOptions };
export { RunParamsError };

/**
 * Queues a run as the Flow's accountability and returns it (the next operation reads `{{$last.id}}`); with `wait`,
 * returns it once it ended (or when the wait times out, still running: `wait_timeout_s`, 300 s when blank or no
 * number, within 1 s and a day; see waitOption). A failed run rejects, so the Flow takes its reject path; so do options that are not
 * what a run takes (RunParamsError, naming the option).
 */
export async function runOperation(kind: RunKind, options: RunOperationOptions, context: OperationContext): Promise<Record<string, unknown>> {
  const { services, database, accountability } = context;
  const ctx = { services, database, schema: await context.getSchema(), accountability };
  const wait = waitOption(options);
  const checked = await checkRunRequest(kind, bodyOfOptions(options), database);
  if (checked.issues) throw new RunParamsError(`Invalid ${kind} options: ${describeIssues(checked.issues)}`);
  const run = await createRun(kind, checked.params, ctx);
  if (!wait) return run;
  const ended = await waitForRun(kind, String(run['id']), ctx, waitTimeoutMs(options));
  if (ended['status'] === 'failed') throw new Error(`${kind} run ${run['id']} failed: ${ended['error']}`);
  return ended;
}
