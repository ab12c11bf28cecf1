import type { Accountability } from '@directus/types';
import type { Knex } from 'knex';

/** The processor's role (setup's PROCESSOR_ROLE): the only non-admin role that may hand the pipeline's output in. */
export const PROCESSOR_ROLE = 'Pitwall Processor';

/**
 * Whether a caller may hand in what the pipeline made (fact batches, the end of a run): an admin, or a user of the
 * processor's role. Decided from the accountability alone, before anything is locked or read, so that a user who
 * may not (a race office account calling the endpoint in a loop) costs the pipeline nothing. Each role's name is
 * looked up once per process: role ids do not change, and setup creates the processor's role before the processor
 * first calls.
 */
export function pipelineCallerCheck(database: Knex): (accountability: Accountability | null | undefined) => Promise<boolean> {
  const isProcessorRole = new Map<string, Promise<boolean>>();
  return async (accountability) => {
    if (!accountability?.user) return false;
    if (accountability.admin) return true;
    const role = accountability.role;
    if (!role) return false;
    let known = isProcessorRole.get(role);
    if (!known) {
      known = Promise.resolve(database('directus_roles').where('id', role).first('name')).then((row?: { name: string }) => row?.name === PROCESSOR_ROLE);
      isProcessorRole.set(role, known);
      // A failed lookup is not an answer: the next call asks again.
      known.catch(() => isProcessorRole.delete(role));
    }
    return known;
  };
}
