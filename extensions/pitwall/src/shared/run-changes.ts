import { ForbiddenError } from '@directus/errors';
import type { Accountability } from '@directus/types';
import { isTerminal } from '../../../../src/jobs/job';
import { inFinalPhase } from '../../../../src/jobs/run-store';
import { RunFinishingError, runCollection, type RunKind } from './runs';
import { writePermission } from './write-guard';

/**
 * What no one but an admin (or the system) may do to a run, however its row is written (`PATCH /items/<kind>_runs`,
 * a Flow acting as them, the endpoint's cancel route): change a run that has ended (its end is announced once; a
 * succeeded apply set to cancelled would announce a second, false end), or stop a replay that has begun applying its
 * changes (409 PITWALL_RUN_FINISHING, as the cancel route answers: stopped half-way, the stage would stay half
 * rewritten). An admin may still do both (the cancel route's `?force=true`).
 *
 * Checked in the update filter, before Directus writes: the row is read with the writer's connection (the cancel
 * route's, which holds its lock). A plain `PATCH /items` holds none, so a run can still begin applying between this
 * read and the write, a window of milliseconds that the cancel route, which reads under the row's lock, does not have.
 */
export function runChangeGuard(database: any) {
  const mayUpdate = writePermission(database);
  return async (kind: RunKind, keys: string[], accountability: Accountability | null | undefined, knex?: any): Promise<void> => {
    if (!accountability?.user || accountability.admin === true || keys.length === 0) return;
    // A caller who may not update runs at all is left to Directus's own 403: they learn nothing of the run's state.
    if (!(await mayUpdate(runCollection(kind), 'update', accountability))) return;
    const rows: { id: string; status: unknown; checkpoint: unknown; attempts: unknown }[] = await (knex ?? database)(runCollection(kind))
      .whereIn('id', keys)
      .select('id', 'status', 'checkpoint', 'attempts');
    for (const row of rows) {
      if (isTerminal(row.status)) throw new ForbiddenError({ reason: `The run ${row.id} has ended (${String(row.status)}): only admins may change it.` } as never);
      if (inFinalPhase(row)) throw new RunFinishingError();
    }
  };
}
