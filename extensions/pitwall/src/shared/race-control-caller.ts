import type { Accountability } from '@directus/types';
import type { Knex } from 'knex';

/** The race office's role (setup's RACE_CONTROL_ROLE). */
export const RACE_CONTROL_ROLE = 'Race Control';

/**
 * Whether a caller may read what only the race office and admins see (the processors' health): an admin, or a user
 * whose role (or a parent of it) is Race Control. Role names are looked up once per role per process; a failed
 * lookup is asked again next time.
 */
export function raceControlCallerCheck(database: Knex): (accountability: Accountability | null | undefined) => Promise<boolean> {
  const isRaceControl = new Map<string, Promise<boolean>>();
  const lookup = (role: string) => {
    let known = isRaceControl.get(role);
    if (!known) {
      known = Promise.resolve(database('directus_roles').where('id', role).first('name')).then((row?: { name: string }) => row?.name === RACE_CONTROL_ROLE);
      isRaceControl.set(role, known);
      known.catch(() => isRaceControl.delete(role));
    }
    return known;
  };
  return async (accountability) => {
    if (!accountability?.user) return false;
    if (accountability.admin) return true;
    const roles = [...new Set([accountability.role, ...((accountability as { roles?: string[] }).roles ?? [])].filter((r): r is string => Boolean(r)))];
    for (const role of roles) if (await lookup(role)) return true;
    return false;
  };
}
