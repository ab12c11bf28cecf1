import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoId } from '../../src/demo/demo-race.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { runSetupAgain } from '../support/stack.ts';

const stack = inject('stack');

interface Panel {
  id: string;
  name: string;
  type: string;
  position_x: number;
  position_y: number;
  width: number;
  height: number;
  options: Record<string, any>;
}

/** The Insights dashboard setup provisions for race day (the harness ran setup with --demo). */
describe('the Race Control dashboard', () => {
  let token: string;
  const dashboards = async () => (await call(stack, '/dashboards?filter[name][_eq]=Race Control&fields=id,name&limit=-1', { token })).json.data as { id: string }[];
  const panels = async (dashboard: string) =>
    (await call(stack, `/panels?filter[dashboard][_eq]=${dashboard}&fields=id,name,type,position_x,position_y,width,height,options&sort=position_y,position_x&limit=-1`, { token })).json.data as Panel[];
  const restore: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    token = await adminToken(stack);
  });

  afterAll(async () => {
    for (const step of restore.reverse()) await step();
  });

  it('holds the classification, health, recent anomalies, live map and replay panels, the race panels on the demo event', async () => {
    const [dashboard] = await dashboards();
    expect(dashboard).toBeDefined();
    const all = await panels(dashboard!.id);
    // In reading order: the classification across the top, the live map with health and the anomalies beside it.
    expect(all.map((p) => p.type)).toEqual(['pitwall-classification', 'pitwall-live-map', 'pitwall-health', 'list', 'pitwall-replay']);
    const race = { defaultEvent: { key: demoId('event'), collection: 'events' }, defaultStage: { key: demoId('stage:ss1'), collection: 'stages' } };
    expect(all[0]!.options).toEqual(race);
    expect(all[4]!.options).toEqual(race);
    // The live map on the demo event; its gateway URL and stale time are the panel's defaults.
    expect(all[1]!.options).toEqual({ defaultEvent: race.defaultEvent });
    // Directus's list panel: newest anomalies first, with kind, crew, severity and time.
    expect(all[3]!.options).toMatchObject({ collection: 'anomalies', sortField: 'started_at', sortDirection: 'desc' });
    for (const field of ['kind', 'severity', 'entry.race_number', 'entry.name', 'started_at']) expect(all[3]!.options['displayTemplate']).toContain(`{{${field}}}`);
    // The classification is the largest panel, the live map right under it; nothing overlaps.
    expect(all[0]!.width * all[0]!.height).toBe(Math.max(...all.map((p) => p.width * p.height)));
    expect(all[1]!.position_y).toBe(all[0]!.position_y + all[0]!.height);
    for (const a of all) {
      for (const b of all) {
        if (a === b) continue;
        const apart = a.position_x + a.width <= b.position_x || b.position_x + b.width <= a.position_x || a.position_y + a.height <= b.position_y || b.position_y + b.height <= a.position_y;
        expect(apart, `${a.name} overlaps ${b.name}`).toBe(true);
      }
    }
  });

  it('uses panel types the app knows: the bundle’s panels are in the extensions the app loads', async () => {
    const res = await fetch(`${stack.directusUrl}/extensions/sources/index.js`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const source = await res.text();
    for (const id of ['pitwall-classification', 'pitwall-health', 'pitwall-live-map', 'pitwall-replay', 'pitwall-race-time']) expect(source, id).toContain(`"${id}"`);
  });

  it('is created once: setup run again adds no second dashboard and no panel', async () => {
    const [dashboard] = await dashboards();
    const before = await panels(dashboard!.id);
    expect(await runSetupAgain(stack)).toEqual([]);
    expect(await dashboards()).toHaveLength(1);
    expect(await panels(dashboard!.id)).toEqual(before);
  });

  it('keeps an admin’s changes to its panels, and a panel an admin removed stays removed', async () => {
    const [dashboard] = await dashboards();
    const [classification, , health] = await panels(dashboard!.id);
    const changed = { name: 'SS2 live', width: 44, options: { defaultEvent: { key: demoId('event'), collection: 'events' }, defaultStage: { key: demoId('stage:ss2'), collection: 'stages' } } };
    expect((await call(stack, `/panels/${classification!.id}`, { token, method: 'PATCH', body: changed })).status).toBe(200);
    restore.push(() => call(stack, `/panels/${classification!.id}`, { token, method: 'PATCH', body: { name: classification!.name, width: classification!.width, options: classification!.options } }));
    expect((await call(stack, `/panels/${health!.id}`, { token, method: 'DELETE' })).status).toBe(204);
    const { id: _id, ...healthPanel } = health!;
    restore.push(() => call(stack, '/panels', { token, body: { ...healthPanel, dashboard: dashboard!.id } }));

    expect(await runSetupAgain(stack)).toEqual([]);
    const after = await panels(dashboard!.id);
    expect(after.map((p) => p.type)).toEqual(['pitwall-classification', 'pitwall-live-map', 'list', 'pitwall-replay']);
    expect(after[0]).toMatchObject(changed);
  });

  it('is created again under its name when it is gone (renamed or deleted)', async () => {
    const [dashboard] = await dashboards();
    expect((await call(stack, `/dashboards/${dashboard!.id}`, { token, method: 'PATCH', body: { name: 'Race Control (2025)' } })).status).toBe(200);
    restore.push(() => call(stack, `/dashboards/${dashboard!.id}`, { token, method: 'PATCH', body: { name: 'Race Control' } }));
    expect(await runSetupAgain(stack)).toEqual(['create dashboard Race Control']);
    const [again] = await dashboards();
    expect(again!.id).not.toBe(dashboard!.id);
    restore.push(() => call(stack, `/dashboards/${again!.id}`, { token, method: 'DELETE' }));
    expect((await panels(again!.id)).map((p) => p.type)).toEqual(['pitwall-classification', 'pitwall-live-map', 'pitwall-health', 'list', 'pitwall-replay']);
  });
});
