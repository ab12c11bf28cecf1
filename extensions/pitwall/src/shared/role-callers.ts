import type { Accountability } from '@directus/types';
import type { Knex } from 'knex';

/** The processor's role (setup's PROCESSOR_ROLE): the only non-admin role that may hand the pipeline's output in. */
export const PROCESSOR_ROLE = 'Pitwall Processor';
/** The race office's role (setup's RACE_CONTROL_ROLE). */
export const RACE_CONTROL_ROLE = 'Race Control';

type Check = (accountability: Accountability | null | undefined) => Promise<boolean>;

/**
 * Whether a user holds the role of that name, as their own role or one it inherits from. Decided from the
 * accountability alone, before anything is locked or read. Each role's name is looked up once per process (role ids
 * do not change, and setup creates Pitwall's roles before anyone calls); a failed lookup is asked again next time.
 */
export function roleCheck(database: Knex, roleName: string): Check {
  const named = new Map<string, Promise<boolean>>();
  const isNamed = (role: string) => {
    let known = named.get(role);
    if (!known) {
      known = Promise.resolve(database('directus_roles').where('id', role).first('name')).then((row?: { name: string }) => row?.name === roleName);
      named.set(role, known);
      known.catch(() => named.delete(role));
    }
    return known;
  };
  return async (accountability) => {
    if (!accountability?.user) return false;
    const roles = new Set([accountability.role, ...((accountability as { roles?: string[] }).roles ?? [])].filter((r): r is string => Boolean(r)));
    for (const role of roles) if (await isNamed(role)) return true;
    return false;
  };
}

/** An admin, or a user of the role of that name. */
function adminOr(database: Knex, roleName: string): Check {
  const hasRole = roleCheck(database, roleName);
  return async (accountability) => Boolean(accountability?.user && accountability.admin) || hasRole(accountability);
}

/**
 * Whether a caller may hand in what the pipeline made (fact batches, the end of a run): an admin or the processor's
 * role, so that a user who may not (a race office account calling the endpoint in a loop) costs the pipeline nothing.
 */
export const pipelineCallerCheck = (database: Knex): Check => adminOr(database, PROCESSOR_ROLE);

/** Whether a caller may read what only the race office and admins see (the processors' health). */
export const raceControlCallerCheck = (database: Knex): Check => adminOr(database, RACE_CONTROL_ROLE);
