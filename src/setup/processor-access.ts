import { createUser, readUsers, updateUser } from '@directus/sdk';
import type { AdminClient } from './directus-admin.ts';
import { ensureRole, type Action } from './ensure-role.ts';

export const PROCESSOR_ROLE = 'Pitwall Processor';

/**
 * What the processor's token does in Directus, and nothing more (the role is Pitwall's own: setup removes anything
 * else). The bundle's `POST /pitwall/facts` writes fact rows through ItemsService as the caller: it reads the stored
 * rows of a batch, creates, updates (ranks too) and deletes them (a late fix or a replay can retract any fact). The
 * race setup is read by SQL as the processor's database role, not through Directus. Race events are created by the
 * bundle as the system, so the token cannot make one (one would reach every integrator as a signed webhook). The
 * job runner (same token) records a run's end through `POST /pitwall/<kind>/:run/end`, which only this role and
 * admins may call: it needs no permission on the run collections (Directus 12 without a licence cannot limit a
 * permission to the fields that record an end; the route does).
 */
const factCollections = ['entry_crossings', 'stage_results', 'entry_penalties', 'anomalies'];
const factActions: Action[] = ['read', 'create', 'update', 'delete'];

export function processorPermissions(): { collection: string; action: Action }[] {
  return factCollections.flatMap((collection) => factActions.map((action) => ({ collection, action })));
}

export interface ProcessorAccess {
  email: string;
  token: string;
}

/**
 * A role without app or admin access, with exactly the permissions above (anything else is removed), and one user
 * whose static token the processor uses, holding no access of its own beyond the role. Idempotent: what exists is
 * reused; only a changed token is written again.
 */
export async function ensureProcessorAccess(client: AdminClient, access: ProcessorAccess, directusUrl: string): Promise<string[]> {
  const { roleId, done } = await ensureRole(client, {
    name: PROCESSOR_ROLE,
    icon: 'precision_manufacturing',
    description: 'Least privilege for the Pitwall processor and job runner: writes timing facts through the Pitwall endpoint.',
    appAccess: false,
    permissions: processorPermissions(),
    exclusive: true,
  });
  const [user] = (await client.request(readUsers({ filter: { email: { _eq: access.email } }, fields: ['id', 'role', { policies: ['id', 'policy'] }] as never }))) as {
    id: string;
    role: string | null;
    policies?: { id: string; policy: string }[];
  }[];
  if (!user) {
    await client.request(
      createUser({ email: access.email, first_name: 'Pitwall', last_name: 'Processor', role: roleId, token: access.token, status: 'active' } as never),
    );
    done.push(`create user ${access.email}`);
    return done;
  }
  if (!(await tokenBelongsTo(directusUrl, access.token, user.id))) {
    // Directus masks tokens on read, so ask Directus who the configured token is instead of comparing.
    await client.request(updateUser(user.id, { token: access.token, role: roleId, status: 'active' } as never));
    done.push(`set token of ${access.email}`);
  } else if (user.role !== roleId) {
    await client.request(updateUser(user.id, { role: roleId } as never));
    done.push(`put ${access.email} back in role ${PROCESSOR_ROLE}`);
  }
  // Policies attached to the user directly would widen what the token may do.
  const own = user.policies ?? [];
  if (own.length > 0) {
    await client.request(updateUser(user.id, { policies: { create: [], update: [], delete: own.map((p) => p.id) } } as never));
    for (const p of own) done.push(`detach policy ${p.policy} from ${access.email}`);
  }
  return done;
}

async function tokenBelongsTo(directusUrl: string, token: string, userId: string): Promise<boolean> {
  const res = await fetch(`${directusUrl}/users/me?fields=id`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) return false;
  const body = (await res.json()) as { data?: { id?: string } };
  return body.data?.id === userId;
}
