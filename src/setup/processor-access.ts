import { createUser, readUsers, updateUser } from '@directus/sdk';
import type { AdminClient } from './directus-admin.ts';
import { ensureRole, type Action } from './ensure-role.ts';

export const PROCESSOR_ROLE = 'Pitwall Processor';

/** Reference data the pipeline reads to know devices, entries, stages and geofences. */
const reads = [
  'device_models', 'devices', 'io_mappings', 'events', 'entries', 'entry_devices', 'stages', 'geofences', 'waypoints',
  'penalty_formulas', 'entry_crossings', 'stage_results', 'entry_penalties', 'anomalies', 'race_events',
  'replay_runs', 'backfill_runs',
];
/** Business outputs the processor hands to the bundle's endpoint, which writes them as the processor. */
const writes = ['entry_crossings', 'stage_results', 'entry_penalties', 'anomalies', 'race_events'];
/** Re-evaluating a window after a late fix can retract any fact the pipeline produced. */
const deletes = ['entry_crossings', 'stage_results', 'entry_penalties', 'anomalies'];
/** The job runner (same token) records the end of replay and backfill runs through Directus. */
const runUpdates = ['replay_runs', 'backfill_runs'];

export function processorPermissions(): { collection: string; action: Action }[] {
  return [
    ...reads.map((collection) => ({ collection, action: 'read' as const })),
    ...writes.flatMap((collection) => [
      { collection, action: 'create' as const },
      { collection, action: 'update' as const },
    ]),
    ...deletes.map((collection) => ({ collection, action: 'delete' as const })),
    ...runUpdates.map((collection) => ({ collection, action: 'update' as const })),
  ];
}

export interface ProcessorAccess {
  email: string;
  token: string;
}

/**
 * A role without app or admin access, with exactly the permissions above, and one user whose static token the
 * processor uses. Idempotent: what exists is reused; only a changed token is written again.
 */
export async function ensureProcessorAccess(client: AdminClient, access: ProcessorAccess, directusUrl: string): Promise<string[]> {
  const { roleId, done } = await ensureRole(client, {
    name: PROCESSOR_ROLE,
    icon: 'precision_manufacturing',
    description: 'Least privilege for the Pitwall processor: reads race setup, writes timing outputs.',
    appAccess: false,
    permissions: processorPermissions(),
  });
  const [user] = await client.request(readUsers({ filter: { email: { _eq: access.email } }, fields: ['id'] }));
  if (!user) {
    await client.request(
      createUser({ email: access.email, first_name: 'Pitwall', last_name: 'Processor', role: roleId, token: access.token, status: 'active' } as never),
    );
    done.push(`create user ${access.email}`);
  } else if (!(await tokenBelongsTo(directusUrl, access.token, (user as { id: string }).id))) {
    // Directus masks tokens on read, so ask Directus who the configured token is instead of comparing.
    await client.request(updateUser((user as { id: string }).id, { token: access.token, role: roleId, status: 'active' } as never));
    done.push(`set token of ${access.email}`);
  }
  return done;
}

async function tokenBelongsTo(directusUrl: string, token: string, userId: string): Promise<boolean> {
  const res = await fetch(`${directusUrl}/users/me?fields=id`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) return false;
  const body = (await res.json()) as { data?: { id?: string } };
  return body.data?.id === userId;
}
