import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { demoEntries } from '../../src/demo/demo-race.ts';
import { processorPermissions } from '../../src/setup/processor-access.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { runSetupAgain } from '../support/stack.ts';

const stack = inject('stack');

async function processorPolicy(token: string): Promise<string> {
  const { json } = await call(stack, `/policies?filter[name][_eq]=Pitwall Processor&fields=id`, { token });
  return json.data[0].id;
}

async function grantedPermissions(token: string): Promise<string[]> {
  const { json } = await call(stack, `/permissions?filter[policy][_eq]=${await processorPolicy(token)}&fields=collection,action,fields,permissions&limit=-1`, { token });
  return json.data.map((p: { collection: string; action: string; fields: string[]; permissions: unknown }) => `${p.action} ${p.collection} ${p.fields.join(',')} ${JSON.stringify(p.permissions ?? {})}`).sort();
}

describe("the processor's role and static token", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('authenticates as a non-admin user without app access', async () => {
    const me = await call(stack, '/users/me?fields=id', { token: stack.processorToken });
    expect(me.status).toBe(200);
    const token = await adminToken(stack);
    const user = await call(stack, `/users/${me.json.data.id}?fields=email,role.name`, { token });
    expect(user.json.data).toEqual({ email: stack.processorEmail, role: { name: 'Pitwall Processor' } });
    const policies = await call(stack, `/policies?filter[name][_eq]=Pitwall Processor&fields=admin_access,app_access`, { token });
    expect(policies.json.data).toEqual([{ admin_access: false, app_access: false }]);
  });

  it('holds exactly what the facts endpoint does as it: read, create, update and delete the four fact collections', async () => {
    const token = await adminToken(stack);
    expect(await grantedPermissions(token)).toEqual(processorPermissions().map(({ collection, action }) => `${action} ${collection} * {}`).sort());
  });

  it('cannot create a race event, which would reach every integrator as a signed webhook', async () => {
    const forged = { type: 'stage.result.computed', version: 1, occurred_at: new Date().toISOString(), source: 'live', payload: { forged: true } };
    const res = await call(stack, '/items/race_events', { token: stack.processorToken, body: forged });
    expect(res.status, res.text).toBe(403);
    const update = await call(stack, `/items/race_events/${randomUUID()}`, { token: stack.processorToken, method: 'PATCH', body: { payload: {} } });
    expect(update.status).toBe(403);
  });

  it('cannot change a run by REST: its end goes through the end route, which takes only the fields of an end', async () => {
    const token = await adminToken(stack);
    const params = { entries: [demoEntries[0]!.id], from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', mode: 'preview' };
    const created = await call(stack, '/items/replay_runs', { token, body: { status: 'queued', params } });
    expect(created.status, created.text).toBe(200);
    const id = created.json.data.id;
    cleanup.push(() => call(stack, `/items/replay_runs/${id}`, { token, method: 'DELETE' }));
    for (const body of [{ result: { forged: true } }, { params: { mode: 'apply' } }, { status: 'succeeded' }]) {
      const res = await call(stack, `/items/replay_runs/${id}`, { token: stack.processorToken, method: 'PATCH', body });
      expect(res.status, JSON.stringify(body)).toBe(403);
    }
    const byQuery = await call(stack, '/items/replay_runs', { token: stack.processorToken, method: 'PATCH', body: { query: { filter: { id: { _eq: id } } }, data: { result: {} } } });
    expect(byQuery.status).toBe(403);
    // The end route refuses what is not an end.
    const extra = await call(stack, `/pitwall/replay/${id}/end`, { token: stack.processorToken, body: { status: 'succeeded', result: { forged: true } } });
    expect(extra.status).toBe(400);
    expect((await call(stack, `/items/replay_runs/${id}?fields=status,result`, { token })).json.data).toEqual({ status: 'queued', result: null });
    // A run that is not running is left as it is.
    const notRunning = await call(stack, `/pitwall/replay/${id}/end`, { token: stack.processorToken, body: { status: 'succeeded' } });
    expect(notRunning.status, notRunning.text).toBe(200);
    expect(notRunning.json).toEqual({ run: { id, status: 'queued' }, recorded: false });
  });

  it('cannot read or change the race setup, users or the schema through Directus', async () => {
    const attempts = [
      call(stack, '/items/events', { token: stack.processorToken, body: { name: 'x', slug: 'x', starts_at: '2026-01-01T00:00:00Z', ends_at: '2026-01-02T00:00:00Z' } }),
      call(stack, '/items/entries?limit=1', { token: stack.processorToken }),
      call(stack, '/items/geofences', { token: stack.processorToken, method: 'DELETE', body: [] }),
      call(stack, '/users', { token: stack.processorToken }),
      call(stack, '/collections', { token: stack.processorToken, body: { collection: 'x' } }),
      call(stack, '/items/webhook_subscriptions', { token: stack.processorToken }),
    ];
    for (const res of await Promise.all(attempts)) expect(res.status).toBe(403);
  });

  it('setup takes back what was added to the role, its policy or its user since, and then changes nothing', async () => {
    const token = await adminToken(stack);
    const policy = await processorPolicy(token);
    const added = await call(stack, '/permissions', { token, body: { policy, collection: 'race_events', action: 'create', fields: ['*'], permissions: {}, validation: {} } });
    expect(added.status, added.text).toBe(200);
    const narrowed = await call(stack, `/permissions?filter[policy][_eq]=${policy}&filter[collection][_eq]=stage_results&filter[action][_eq]=update&fields=id`, { token });
    await call(stack, `/permissions/${narrowed.json.data[0].id}`, { token, method: 'PATCH', body: { fields: ['rank'] } });
    const wide = await call(stack, '/policies', { token, body: { name: `wide ${randomUUID()}`, admin_access: false, app_access: true } });
    cleanup.push(() => call(stack, `/policies/${wide.json.data.id}`, { token, method: 'DELETE' }));
    await call(stack, '/permissions', { token, body: { policy: wide.json.data.id, collection: 'race_events', action: 'create', fields: ['*'], permissions: {}, validation: {} } });
    const role = (await call(stack, `/roles?filter[name][_eq]=Pitwall Processor&fields=id`, { token })).json.data[0].id;
    await call(stack, `/roles/${role}`, { token, method: 'PATCH', body: { policies: { create: [{ policy: wide.json.data.id }] } } });
    const me = (await call(stack, '/users/me?fields=id', { token: stack.processorToken })).json.data.id;
    await call(stack, `/users/${me}`, { token, method: 'PATCH', body: { policies: { create: [{ policy: wide.json.data.id }] } } });
    const forged = { id: randomUUID(), type: 'io_mapping.changed', version: 1, occurred_at: new Date().toISOString(), source: 'system', payload: { forged: true } };
    const before = await call(stack, '/items/race_events', { token: stack.processorToken, body: forged });
    // 204: created, though the widened role may not read it back.
    expect(before.status, 'the widened role can forge events').toBe(204);
    await call(stack, `/items/race_events/${forged.id}`, { token, method: 'DELETE' });

    const done = await runSetupAgain(stack);
    expect(done).toEqual(expect.arrayContaining([
      'no longer allow Pitwall Processor to create race_events',
      'allow Pitwall Processor to update stage_results on every field and row again',
      `detach policy ${wide.json.data.id} from role Pitwall Processor`,
      `detach policy ${wide.json.data.id} from ${stack.processorEmail}`,
    ]));
    expect((await call(stack, '/items/race_events', { token: stack.processorToken, body: { ...forged, id: randomUUID() } })).status).toBe(403);
    expect(await grantedPermissions(token)).toEqual(processorPermissions().map(({ collection, action }) => `${action} ${collection} * {}`).sort());
    expect(await runSetupAgain(stack)).toEqual([]);
  });

  it('an unknown token is refused', async () => {
    const res = await call(stack, '/users/me', { token: 'not-a-token' });
    expect(res.status).toBe(401);
  });
});
