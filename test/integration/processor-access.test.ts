import { describe, expect, inject, it } from 'vitest';
import { adminToken, call } from '../support/directus-client.ts';

const stack = inject('stack');

describe("the processor's role and static token", () => {
  it('authenticates as a non-admin user without app access', async () => {
    const me = await call(stack, '/users/me?fields=id', { token: stack.processorToken });
    expect(me.status).toBe(200);
    const token = await adminToken(stack);
    const user = await call(stack, `/users/${me.json.data.id}?fields=email,role.name`, { token });
    expect(user.json.data).toEqual({ email: stack.processorEmail, role: { name: 'Pitwall Processor' } });
    const policies = await call(stack, `/policies?filter[name][_eq]=Pitwall Processor&fields=admin_access,app_access`, { token });
    expect(policies.json.data).toEqual([{ admin_access: false, app_access: false }]);
  });

  it('reads the race setup it needs', async () => {
    for (const collection of ['entries', 'entry_devices', 'devices', 'io_mappings', 'geofences', 'waypoints', 'stages']) {
      const res = await call(stack, `/items/${collection}?limit=1`, { token: stack.processorToken });
      expect(res.status, collection).toBe(200);
      expect(res.json.data.length, collection).toBe(1);
    }
  });

  it('cannot change the race setup, users or the schema', async () => {
    const attempts = [
      call(stack, '/items/events', { token: stack.processorToken, body: { name: 'x', slug: 'x', starts_at: '2026-01-01T00:00:00Z', ends_at: '2026-01-02T00:00:00Z' } }),
      call(stack, '/items/geofences', { token: stack.processorToken, method: 'DELETE', body: [] }),
      call(stack, '/users', { token: stack.processorToken }),
      call(stack, '/collections', { token: stack.processorToken, body: { collection: 'x' } }),
      call(stack, '/items/webhook_subscriptions', { token: stack.processorToken }),
    ];
    for (const res of await Promise.all(attempts)) expect(res.status).toBe(403);
  });

  it('an unknown token is refused', async () => {
    const res = await call(stack, '/users/me', { token: 'not-a-token' });
    expect(res.status).toBe(401);
  });
});
