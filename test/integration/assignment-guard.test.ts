import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoId } from '../../src/demo/demo-race.ts';
import { adminToken, call } from '../support/directus-client.ts';

const stack = inject('stack');

/** Entry Devices as race admins fill them in: one tracker per car, moved between cars with validity windows. */
describe('a tracker on two entries of one event at once', () => {
  let token: string;
  const made: [string, string][] = [];
  const create = async (collection: string, body: Record<string, unknown>) => {
    const response = await call(stack, `/items/${collection}`, { token, body });
    if (response.status === 200) made.push([collection, response.json.data.id]);
    return response;
  };
  const id = async (collection: string, body: Record<string, unknown>) => {
    const response = await create(collection, body);
    expect(response.status, JSON.stringify(response.json)).toBe(200);
    return response.json.data.id as string;
  };
  const event = (name: string) => id('events', { name, slug: `${name}-${randomUUID().slice(0, 8)}`, starts_at: '2026-12-01T00:00:00Z', ends_at: '2026-12-20T00:00:00Z', status: 'running' });

  beforeAll(async () => {
    token = await adminToken(stack);
  });
  afterAll(async () => {
    for (const [collection, key] of made.reverse()) await call(stack, `/items/${collection}/${key}`, { token, method: 'DELETE' });
  });

  it('is refused naming the device and the entry that carries it; two events, or windows one after the other, are not', async () => {
    const [rally, sister] = [await event('assign-rally'), await event('assign-sister')];
    const [car7, car8, sisterCar] = [
      await id('entries', { event: rally, race_number: 7, name: 'Crew 7' }),
      await id('entries', { event: rally, race_number: 8, name: 'Crew 8' }),
      await id('entries', { event: sister, race_number: 7, name: 'Crew 7 (class)' }),
    ];
    const device = await id('devices', { imei: String(Date.now()).padStart(15, '9').slice(-15), name: 'guard tracker', model: demoId('model:FMB920') });
    const first = await id('entry_devices', { entry: car7, device, role: 'primary' });

    const twice = await create('entry_devices', { entry: car8, device, role: 'primary' });
    expect(twice.status).toBe(400);
    expect(twice.json.errors[0].extensions.issues.map((issue: { path: string[] }) => issue.path)).toEqual([['device']]);
    expect(twice.json.errors[0].extensions.reason).toMatch(/^device: this tracker is carried by entry #7 of the same event from the start, with no end;/);
    // The same car entered in a class run as an event of its own: timed in each.
    expect((await create('entry_devices', { entry: sisterCar, device, role: 'primary' })).status).toBe(200);

    // Moved to car 8 at noon: car 7's assignment ends then, car 8's starts then.
    const noon = '2026-12-06T12:00:00.000Z';
    expect((await call(stack, `/items/entry_devices/${first}`, { token, method: 'PATCH', body: { valid_to: noon } })).status).toBe(200);
    const early = await create('entry_devices', { entry: car8, device, role: 'primary', valid_from: '2026-12-06T11:59:00Z' });
    expect(early.status).toBe(400);
    expect(early.json.errors[0].extensions.reason).toContain(`entry #7 of the same event from the start to ${noon}`);
    const moved = await id('entry_devices', { entry: car8, device, role: 'primary', valid_from: noon });
    // Opening car 7's window again would make the two overlap: refused as an update too.
    const reopened = await call(stack, `/items/entry_devices/${first}`, { token, method: 'PATCH', body: { valid_to: null } });
    expect(reopened.status).toBe(400);
    expect(reopened.json.errors[0].extensions.reason).toMatch(/^device: this tracker is carried by entry #8 of the same event from 2026-12-06T12:00:00.000Z, with no end;/);
    // A change that keeps the windows apart is taken.
    expect((await call(stack, `/items/entry_devices/${moved}`, { token, method: 'PATCH', body: { role: 'backup' } })).status).toBe(200);
    // On to car 7 again at 13:00; car 8's stored window, from noon, may not be left open again.
    expect((await call(stack, `/items/entry_devices/${moved}`, { token, method: 'PATCH', body: { valid_to: '2026-12-06T13:00:00Z' } })).status).toBe(200);
    await id('entry_devices', { entry: car7, device, role: 'primary', valid_from: '2026-12-06T13:00:00Z' });
    const reopenedStored = await call(stack, `/items/entry_devices/${moved}`, { token, method: 'PATCH', body: { valid_to: null } });
    expect(reopenedStored.status).toBe(400);
    expect(reopenedStored.json.errors[0].extensions.reason).toMatch(/^device: this tracker is carried by entry #7 of the same event from 2026-12-06T13:00:00.000Z, with no end;/);
  });
  it('refuses a role the timing does not know, and windows that close before they open: assignments, stages, events', async () => {
    const rally = await event('window-rally');
    const car = await id('entries', { event: rally, race_number: 9, name: 'Crew 9' });
    const device = await id('devices', { imei: String(Date.now() + 1).padStart(15, '8').slice(-15), name: 'window tracker', model: demoId('model:FMB920') });
    const issues = (response: Awaited<ReturnType<typeof create>>) => response.json.errors[0].extensions.issues.map((issue: { path: string[]; message: string }) => [issue.path[0], issue.message]);

    const boss = await create('entry_devices', { entry: car, device, role: 'boss' });
    expect(boss.status).toBe(400);
    expect(issues(boss)).toEqual([['role', 'expected one of primary, backup, not "boss"']]);
    const backwards = await create('entry_devices', { entry: car, device, role: 'primary', valid_from: '2026-12-08T00:00:00Z', valid_to: '2026-12-07T00:00:00Z' });
    expect(backwards.status).toBe(400);
    expect(issues(backwards)).toEqual([['valid_to', expect.stringMatching(/^valid_to \(2026-12-07T00:00:00.000Z\) must be after valid_from \(2026-12-08T00:00:00.000Z\)/)]]);

    const stage = await id('stages', { event: rally, name: 'SS9', sort_order: 9, opens_at: '2026-12-07T02:00:00Z', closes_at: '2026-12-07T08:00:00Z' });
    // Mid-race, a close typed before the opening stopped the stage's timing and made its running cars DNF.
    const early = await call(stack, `/items/stages/${stage}`, { token, method: 'PATCH', body: { closes_at: '2026-12-07T01:00:00Z' } });
    expect(early.status).toBe(400);
    expect(issues(early)).toEqual([['closes_at', expect.stringMatching(/^closes_at \(2026-12-07T01:00:00.000Z\) must be after opens_at \(2026-12-07T02:00:00.000Z\): a stage that closes before it opens times no crossing/)]]);
    const late = await call(stack, `/items/stages/${stage}`, { token, method: 'PATCH', body: { opens_at: '2026-12-20T00:00:00Z' } });
    expect(issues(late)).toEqual([['opens_at', expect.stringContaining('must be after opens_at (2026-12-20T00:00:00.000Z)')]]);
    expect((await call(stack, `/items/stages/${stage}`, { token, method: 'PATCH', body: { opens_at: '2026-12-07T01:00:00Z', closes_at: '2026-12-07T09:00:00Z' } })).status).toBe(200);

    const ended = await create('events', { name: 'backwards', slug: `backwards-${randomUUID().slice(0, 8)}`, starts_at: '2026-12-09T00:00:00Z', ends_at: '2026-12-08T00:00:00Z', status: 'planned' });
    expect(ended.status).toBe(400);
    expect(issues(ended)).toEqual([['ends_at', expect.stringMatching(/^ends_at \(2026-12-08T00:00:00.000Z\) must be after starts_at/)]]);
  });
});
