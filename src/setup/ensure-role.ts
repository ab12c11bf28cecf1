import { createPermission, createPolicy, createRole, deletePermissions, readPermissions, readPolicies, readRoles, updatePermission, updatePolicy, updateRole } from '@directus/sdk';
import type { AdminClient } from './directus-admin.ts';

export type Action = 'create' | 'read' | 'update' | 'delete';

export interface RoleSpec {
  name: string;
  icon: string;
  description: string;
  appAccess: boolean;
  permissions: { collection: string; action: Action }[];
  /**
   * The role is Pitwall's own and holds exactly `permissions`: what else its policy allows is removed, and so are
   * other policies attached to it. Otherwise setup only adds, so that an admin's additions survive.
   */
  exclusive?: boolean;
  /**
   * With `exclusive`: only the role's own policy is kept exact; other policies attached to the role stay (how an admin
   * gives a human role more than Pitwall's policy holds, without setup taking it back).
   */
  keepOtherPolicies?: boolean;
}

interface Access {
  id: string;
  policy: string;
}

/**
 * A role with one policy of the same name holding plain permissions (all fields, no row filters: Directus 12
 * without a licence refuses both field lists and custom rules). Idempotent: what exists is reused, missing
 * permissions are added, and for an exclusive role, permissions and policies beyond the spec are removed.
 */
export async function ensureRole(client: AdminClient, spec: RoleSpec): Promise<{ roleId: string; done: string[] }> {
  const done: string[] = [];
  let [policy] = await client.request(readPolicies({ filter: { name: { _eq: spec.name } }, fields: ['id', 'admin_access', 'app_access'] }));
  if (!policy) {
    policy = await client.request(createPolicy({ name: spec.name, icon: spec.icon, description: spec.description, admin_access: false, app_access: spec.appAccess } as never));
    done.push(`create policy ${spec.name}`);
  } else if (spec.exclusive && (policy['admin_access'] !== false || policy['app_access'] !== spec.appAccess)) {
    await client.request(updatePolicy(policy['id'], { admin_access: false, app_access: spec.appAccess } as never));
    done.push(`reset the access flags of policy ${spec.name}`);
  }
  const policyId = (policy as { id: string }).id;

  let [role] = await client.request(readRoles({ filter: { name: { _eq: spec.name } }, fields: ['id', { policies: ['id', 'policy'] }] as never }));
  if (!role) {
    role = await client.request(createRole({ name: spec.name, icon: spec.icon, description: spec.description, policies: { create: [{ policy: policyId }] } } as never));
    done.push(`create role ${spec.name}`);
  } else {
    const attached = ((role as { policies?: Access[] }).policies ?? []);
    const others = spec.exclusive && !spec.keepOtherPolicies ? attached.filter((access) => access.policy !== policyId) : [];
    const missing = !attached.some((access) => access.policy === policyId);
    if (missing || others.length > 0) {
      await client.request(updateRole((role as { id: string }).id, {
        policies: { create: missing ? [{ policy: policyId }] : [], update: [], delete: others.map((access) => access.id) },
      } as never));
      if (missing) done.push(`attach policy ${spec.name} to role ${spec.name}`);
      for (const access of others) done.push(`detach policy ${access.policy} from role ${spec.name}`);
    }
  }

  const existing = (await client.request(
    readPermissions({ filter: { policy: { _eq: policyId } }, fields: ['id', 'collection', 'action', 'fields', 'permissions', 'validation', 'presets'], limit: -1 }),
  )) as Permission[];
  const have = new Map<string, Permission>();
  const excess: Permission[] = [];
  for (const permission of existing) {
    const key = `${permission.collection}:${permission.action}`;
    if (have.has(key)) excess.push(permission);
    else have.set(key, permission);
  }
  for (const { collection, action } of spec.permissions) {
    const present = have.get(`${collection}:${action}`);
    have.delete(`${collection}:${action}`);
    if (!present) {
      await client.request(createPermission({ policy: policyId, collection, action, ...plain } as never));
      done.push(`allow ${spec.name} to ${action} ${collection}`);
    } else if (spec.exclusive && !isPlain(present)) {
      // Narrowed by hand (fields, a filter): the processor would fail on the part it lost.
      await client.request(updatePermission(present.id, plain as never));
      done.push(`allow ${spec.name} to ${action} ${collection} on every field and row again`);
    }
  }
  if (spec.exclusive) {
    excess.push(...have.values());
    if (excess.length > 0) await client.request(deletePermissions(excess.map((p) => p.id) as never));
    for (const p of excess) done.push(`no longer allow ${spec.name} to ${p.action} ${p.collection}`);
  }
  return { roleId: (role as { id: string }).id, done };
}

interface Permission {
  id: number;
  collection: string;
  action: string;
  fields: string[] | null;
  permissions: Record<string, unknown> | null;
  validation: Record<string, unknown> | null;
  presets: Record<string, unknown> | null;
}

const plain = { fields: ['*'], permissions: {}, validation: {}, presets: null };
const empty = (value: Record<string, unknown> | null) => !value || Object.keys(value).length === 0;
const isPlain = (p: Permission) => Boolean(p.fields?.includes('*')) && empty(p.permissions) && empty(p.validation) && empty(p.presets);
