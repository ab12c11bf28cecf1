import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import { pitwallCollections } from '../../src/setup/pitwall-schema.ts';
import { runSetup } from '../../src/setup/setup.ts';
import { connectDb } from '../../src/store/db.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { flowReceivesRaceEvents } from '../support/flow-check.ts';
import { setupOptions } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');

describe('Pitwall on Directus 12 without a licence', () => {
  it('runs Directus 12', async () => {
    const info = await call(stack, '/server/info', { token: await adminToken(stack) });
    expect(info.json.data.version).toMatch(/^12\./);
  });

  it('loads the bundle and serves the endpoint', async () => {
    const { json } = await call(stack, '/extensions', { token: await adminToken(stack) });
    const names = json.data.filter((e: { schema: unknown }) => e.schema).map((e: { schema: { name: string } }) => e.schema.name);
    expect(names).toEqual(expect.arrayContaining(['pitwall-hook', 'pitwall', 'pitwall-replay-operation', 'pitwall-backfill-operation', 'pitwall-replay-panel']));
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

  it('queues, reads and cancels a replay run through the endpoint (403 for the processor)', async () => {
    const token = await adminToken(stack);
    const body = { event: demoId('event'), from: '2026-01-01T00:00:00Z', to: '2026-01-01T01:00:00Z', mode: 'preview' };
    expect((await call(stack, '/pitwall/replay', { token: stack.processorToken, body })).status).toBe(403);
    const queued = await call(stack, '/pitwall/replay', { token, body });
    expect(queued.status, queued.text).toBe(202);
    const id = queued.json.run.id;
    try {
      expect((await call(stack, `/pitwall/replay/${id}`, { token })).json.run).toMatchObject({ id, status: 'queued', params: body });
      expect((await call(stack, `/pitwall/replay/${id}/cancel`, { token, method: 'POST' })).json.run.status).toBe('cancelled');
    } finally {
      await call(stack, `/items/replay_runs/${id}`, { token, method: 'DELETE' });
    }
  });

  it('delivers race events to a Flow', async () => {
    await flowReceivesRaceEvents(stack);
  });

  it('makes one io_mapping.changed per model for the rows of one request (a create, a list PATCH), as on 11', async () => {
    const token = await adminToken(stack);
    const model = demoId('model:FMB920');
    const ioIds = [61_001, 61_002, 61_003];
    const res = await call(stack, '/items/io_mappings', { token, body: ioIds.map((io_id) => ({ model, io_id, attribute: `compat_${io_id}`, value_type: 'unsigned', byte_size: 1 })) });
    expect(res.status, res.text).toBe(200);
    const events = async () =>
      ((await call(stack, '/items/race_events?filter[type][_eq]=io_mapping.changed&limit=-1', { token })).json.data as { id: string; payload: { io_ids: number[] } }[]).filter((e) =>
        e.payload.io_ids.some((id) => ioIds.includes(id)),
      );
    await waitFor(async () => (await events()).length > 0, { timeoutMs: 10_000, intervalMs: 200, what: 'io_mapping.changed after the import' });
    await new Promise((r) => setTimeout(r, 1000));
    try {
      expect((await events()).map((e) => e.payload)).toEqual([{ model, io_ids: ioIds }]);
      // A PATCH of a list of rows: Directus announces each row before the request commits; one event all the same.
      const rows = res.json.data as { id: string }[];
      expect((await call(stack, '/items/io_mappings', { token, method: 'PATCH', body: rows.map((r) => ({ id: r.id, multiplier: 0.1 })) })).status).toBe(200);
      await waitFor(async () => (await events()).length > 1, { timeoutMs: 10_000, intervalMs: 200, what: 'io_mapping.changed after the list PATCH' });
      await new Promise((r) => setTimeout(r, 1000));
      expect((await events()).map((e) => e.payload)).toEqual([{ model, io_ids: ioIds }, { model, io_ids: ioIds }]);
    } finally {
      const before = (await events()).length;
      await call(stack, '/items/io_mappings', { token, method: 'DELETE', body: (res.json.data as { id: string }[]).map((r) => r.id) });
      await waitFor(async () => (await events()).length > before, { timeoutMs: 10_000, intervalMs: 200, what: 'io_mapping.changed after the delete' });
      await call(stack, '/items/race_events', { token, method: 'DELETE', body: (await events()).map((e) => e.id) });
    }
  });

  it('keeps the processor to what it uses, with plain permissions (no field lists: 12 without a licence refuses them)', async () => {
    const token = await adminToken(stack);
    const event = { id: randomUUID(), type: 'io_mapping.changed', version: 1, occurred_at: new Date().toISOString(), source: 'system', payload: {} };
    expect((await call(stack, '/items/race_events', { token: stack.processorToken, body: event })).status).toBe(403);
    // Queued as a person queues one, then marked running as the job runner would.
    const params = { entries: [demoEntries[0]!.id], from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', mode: 'preview' };
    const run = await call(stack, '/items/replay_runs', { token, body: { params } });
    expect(run.status, run.text).toBe(200);
    try {
      const id = run.json.data.id;
      expect((await call(stack, `/items/replay_runs/${id}`, { token, method: 'PATCH', body: { status: 'running' } })).status).toBe(200);
      expect((await call(stack, `/items/replay_runs/${id}`, { token: stack.processorToken, method: 'PATCH', body: { result: {} } })).status).toBe(403);
      const ended = await call(stack, `/pitwall/replay/${id}/end`, { token: stack.processorToken, body: { status: 'failed', error: 'probe' } });
      expect(ended.json).toEqual({ run: { id, status: 'failed' }, recorded: true });
    } finally {
      await call(stack, `/items/replay_runs/${run.json.data.id}`, { token, method: 'DELETE' });
    }
    const processorDb = connectDb(stack.processorDatabaseUrl, { pool: 1 });
    try {
      const refused = await processorDb('directus_users').select('id').then(() => null, (error: { code?: string }) => error.code);
      expect(refused).toBe('42501');
    } finally {
      await processorDb.destroy();
    }
  });

  it('provisions the Race Control dashboard with panels the app knows; a Race Control user opens it and may preview, not apply, a replay', async () => {
    const token = await adminToken(stack);
    const dashboards = (await call(stack, '/dashboards?filter[name][_eq]=Race Control&fields=id,panels.type,panels.options&limit=-1', { token })).json.data;
    expect(dashboards).toHaveLength(1);
    const types = dashboards[0].panels.map((p: { type: string }) => p.type).sort();
    expect(types).toEqual(['list', 'pitwall-classification', 'pitwall-health', 'pitwall-live-map', 'pitwall-replay']);
    // The app registers the bundle's panels and display from the extension sources it loads; `list` is Directus's own.
    const source = await (await fetch(`${stack.directusUrl}/extensions/sources/index.js`, { headers: { authorization: `Bearer ${token}` } })).text();
    for (const id of ['pitwall-classification', 'pitwall-health', 'pitwall-live-map', 'pitwall-replay', 'pitwall-race-time', 'pitwall-precise-time', 'pitwall-race-duration']) expect(source, id).toContain(`"${id}"`);
    const list = dashboards[0].panels.find((p: { type: string }) => p.type === 'list');
    expect(list.options).toMatchObject({ collection: 'anomalies', sortField: 'started_at', sortDirection: 'desc' });
    expect((await call(stack, '/fields/stage_results/gap_ms', { token })).json.data.meta.display).toBe('pitwall-race-time');
    expect((await call(stack, '/fields/entry_crossings/crossed_at', { token })).json.data.meta.interface).toBe('pitwall-precise-time');
    expect((await call(stack, '/fields/entry_penalties/amount_ms', { token })).json.data.meta.interface).toBe('pitwall-race-duration');

    // The third user Directus 12 allows without a licence, deleted afterwards.
    const role = (await call(stack, '/roles?filter[name][_eq]=Race Control&fields=id', { token })).json.data[0].id;
    const userToken = randomUUID().replaceAll('-', '');
    const user = await call(stack, '/users', { token, body: { email: `timekeeper-${randomUUID().slice(0, 8)}@pitwall.example.com`, role, token: userToken, status: 'active' } });
    expect(user.status, user.text).toBe(200);
    try {
      const seen = await call(stack, '/dashboards?filter[name][_eq]=Race Control&fields=id,panels.type', { token: userToken });
      expect(seen.status, seen.text).toBe(200);
      expect(seen.json.data[0].panels).toHaveLength(5);
      expect((await call(stack, '/pitwall/status', { token: userToken })).status).toBe(200);
      expect((await call(stack, `/pitwall/classification?event=${demoId('event')}&stage=${demoId('stage:ss1')}`, { token: userToken })).status).toBe(200);
      const body = { event: demoId('event'), stage: demoId('stage:ss1'), mode: 'preview' };
      const preview = await call(stack, '/pitwall/replay', { token: userToken, body });
      expect(preview.status, preview.text).toBe(202);
      await call(stack, `/items/replay_runs/${preview.json.run.id}`, { token, method: 'DELETE' });
      expect((await call(stack, '/pitwall/replay', { token: userToken, body: { ...body, mode: 'apply' } })).status).toBe(403);
      expect((await call(stack, '/items/stage_results', { token: userToken, body: { status: 'finished' } })).status).toBe(403);
      expect((await call(stack, '/items/webhook_subscriptions', { token: userToken })).status).toBe(403);
    } finally {
      await call(stack, `/users/${user.json.data.id}`, { token, method: 'DELETE' });
    }
  });

  it('answers times as JSON numbers, and setup migrates a bigInteger time field', async () => {
    const token = await adminToken(stack);
    expect((await call(stack, '/fields/stage_results/elapsed_ms', { token, method: 'PATCH', body: { type: 'bigInteger', schema: {} } })).status).toBe(200);
    const db = connectDb(stack.databaseUrl, { pool: 1 });
    try {
      expect(await runSetup(db, setupOptions(stack))).toEqual(['change field stage_results.elapsed_ms from bigInteger to integer']);
    } finally {
      await db.destroy();
    }
    expect((await call(stack, '/fields/stage_results/elapsed_ms', { token })).json.data.type).toBe('integer');
    expect(typeof (await call(stack, `/items/waypoints?limit=1&fields=penalty_ms`, { token })).json.data[0].penalty_ms).toBe('number');
  });
});
