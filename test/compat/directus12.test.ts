import { describe, expect, inject, it } from 'vitest';
import { pitwallCollections } from '../../src/setup/pitwall-schema.ts';
import { runSetup } from '../../src/setup/setup.ts';
import { connectDb } from '../../src/store/db.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { flowReceivesRaceEvents } from '../support/flow-check.ts';
import { setupOptions } from '../support/stack.ts';

const stack = inject('stack');

describe('Pitwall on Directus 12 without a licence', () => {
  it('runs Directus 12', async () => {
    const info = await call(stack, '/server/info', { token: await adminToken(stack) });
    expect(info.json.data.version).toMatch(/^12\./);
  });

  it('loads the bundle and serves the endpoint', async () => {
    const { json } = await call(stack, '/extensions', { token: await adminToken(stack) });
    const names = json.data.filter((e: { schema: unknown }) => e.schema).map((e: { schema: { name: string } }) => e.schema.name);
    expect(names).toEqual(expect.arrayContaining(['pitwall-hook', 'pitwall', 'pitwall-replay-operation', 'pitwall-replay-panel']));
    expect((await call(stack, '/pitwall/health')).json.status).toBe('ok');
  });

  it('set up every collection within the caps (25 collections, 3 users), and a second setup changes nothing', async () => {
    const token = await adminToken(stack);
    const collections = (await call(stack, '/collections', { token })).json.data.map((c: { collection: string }) => c.collection);
    for (const { collection } of pitwallCollections) expect(collections).toContain(collection);
    const license = await call(stack, '/server/info', { token });
    expect(license.status).toBe(200);
    expect((await call(stack, '/users?fields=id', { token })).json.data.length).toBeLessThanOrEqual(3);
    const db = connectDb(stack.databaseUrl, { pool: 1 });
    try {
      const done = await runSetup(db, setupOptions(stack));
      expect(done).toEqual([]);
    } finally {
      await db.destroy();
    }
    const me = await call(stack, '/users/me?fields=id', { token: stack.processorToken });
    expect(me.status).toBe(200);
    const user = await call(stack, `/users/${me.json.data.id}?fields=role.name`, { token });
    expect(user.json.data.role.name).toBe('Pitwall Processor');
  });

  it('delivers race events to a Flow', async () => {
    await flowReceivesRaceEvents(stack);
  });
});
