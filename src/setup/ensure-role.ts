import { createPermission, createPolicy, createRole, readPermissions, readPolicies, readRoles } from '@directus/sdk';
import type { AdminClient } from './directus-admin.ts';

export type Action = 'create' | 'read' | 'update' | 'delete';

export interface RoleSpec {
  name: string;
  icon: string;
  description: string;
  appAccess: boolean;
  permissions: { collection: string; action: Action }[];
}

/**
 * A role with one policy of the same name holding plain permissions (all fields, no row filters: Directus 12
 * without a licence refuses custom rules). Idempotent: what exists is reused, missing permissions are added.
 */
export async function ensureRole(client: AdminClient, spec: RoleSpec): Promise<{ roleId: string; done: string[] }> {
  const done: string[] = [];
  let [policy] = await client.request(readPolicies({ filter: { name: { _eq: spec.name } }, fields: ['id'] }));
  if (!policy) {
    policy = await client.request(createPolicy({ name: spec.name, icon: spec.icon, description: spec.description, admin_access: false, app_access: spec.appAccess } as never));
    done.push(`create policy ${spec.name}`);
  }
  const policyId = (policy as { id: string }).id;

  let [role] = await client.request(readRoles({ filter: { name: { _eq: spec.name } }, fields: ['id'] }));
  if (!role) {
    role = await client.request(createRole({ name: spec.name, icon: spec.icon, description: spec.description, policies: { create: [{ policy: policyId }] } } as never));
    done.push(`create role ${spec.name}`);
  }

  const existing = (await client.request(readPermissions({ filter: { policy: { _eq: policyId } }, fields: ['collection', 'action'], limit: -1 }))) as { collection: string; action: string }[];
  const have = new Set(existing.map((p) => `${p.collection}:${p.action}`));
  for (const { collection, action } of spec.permissions) {
    if (have.has(`${collection}:${action}`)) continue;
    await client.request(createPermission({ policy: policyId, collection, action, fields: ['*'], permissions: {}, validation: {} } as never));
    done.push(`allow ${spec.name} to ${action} ${collection}`);
  }
  return { roleId: (role as { id: string }).id, done };
}
