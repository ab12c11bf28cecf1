import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { exampleFlows } from '../../src/setup/example-flows.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');

describe('example Flows provisioned by setup', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('exist, inactive, with their steps chained in order', async () => {
    const token = await adminToken(stack);
    const flows = (await call(stack, '/flows?fields=name,status,trigger,options,operation.key,operations.key,operations.type,operations.resolve.key&limit=-1', { token })).json.data;
    for (const example of exampleFlows) {
      const flow = flows.find((f: { name: string }) => f.name === example.name);
      expect(flow, example.name).toMatchObject({ status: 'inactive', trigger: 'event', options: { type: 'action', scope: ['items.create'], collections: ['race_events'] } });
      expect(flow.operation.key).toBe(example.steps[0]!.key);
      for (const step of example.steps) {
        const op = flow.operations.find((o: { key: string }) => o.key === step.key);
        expect(op.type).toBe(step.type);
        expect(op.resolve?.key ?? null).toBe(step.next ?? null);
      }
    }
  });

  it('"Notify race control on anomaly", once switched on, notifies the Race Control users of a live anomaly', async () => {
    const token = await adminToken(stack);
    const [role] = (await call(stack, '/roles?filter[name][_eq]=Race Control&fields=id', { token })).json.data;
    const user = (await call(stack, '/users', { token, body: { email: `steward-${randomUUID().slice(0, 8)}@pitwall.example.com`, role: role.id, status: 'active' } })).json.data;
    cleanup.push(() => call(stack, `/users/${user.id}`, { token, method: 'DELETE' }));
    // A steward whose account was suspended is not told.
    const suspended = (await call(stack, '/users', { token, body: { email: `suspended-${randomUUID().slice(0, 8)}@pitwall.example.com`, role: role.id, status: 'suspended' } })).json.data;
    cleanup.push(() => call(stack, `/users/${suspended.id}`, { token, method: 'DELETE' }));
    const [flow] = (await call(stack, '/flows?filter[name][_eq]=Notify race control on anomaly&fields=id', { token })).json.data;
    await call(stack, `/flows/${flow.id}`, { token, method: 'PATCH', body: { status: 'active' } });
    cleanup.push(() => call(stack, `/flows/${flow.id}`, { token, method: 'PATCH', body: { status: 'inactive' } }));

    const store = (source: string) =>
      call(stack, '/items/race_events', {
        token,
        body: { id: randomUUID(), type: 'anomaly.detected', version: 1, occurred_at: new Date().toISOString(), source, device_id: '350936080010018', payload: { kind: 'signal_loss', severity: 'warning', race_number: 101 } },
      });
    const replayed = await store('replay');
    expect(replayed.status).toBe(200);
    cleanup.push(() => call(stack, `/items/race_events/${replayed.json.data.id}`, { token, method: 'DELETE' }));
    const notifications = async () => (await call(stack, `/notifications?filter[recipient][_eq]=${user.id}&fields=subject,message,item&sort=timestamp`, { token })).json.data as { subject: string; message: string; item: string }[];
    // Flows reload asynchronously after a save: store live anomalies until one comes through.
    const live: string[] = [];
    await waitFor(async () => {
      const res = await store('live');
      live.push(res.json.data.id);
      return (await notifications()).length > 0;
    }, { timeoutMs: 20_000, intervalMs: 750, what: 'a notification' });
    for (const id of live) cleanup.push(() => call(stack, `/items/race_events/${id}`, { token, method: 'DELETE' }));
    const received = await notifications();
    expect(received[0]!.subject).toBe('Anomaly: signal loss (#101, tracker 350936080010018)');
    expect(received[0]!.message).toMatch(/^warning signal loss for #101, tracker 350936080010018 at \d{4}-\d\d-\d\dT[\d:.]+Z$/);
    expect(received.map((n) => n.item)).not.toContain(replayed.json.data.id);

    // A tracker that carries no entry has no race number; an event stored by hand may name no tracker. Left out, not
    // printed as "undefined" or "null".
    const bare = await call(stack, '/items/race_events', {
      token,
      body: { id: randomUUID(), type: 'anomaly.detected', version: 1, occurred_at: '2026-12-07T09:30:00.000Z', source: 'live', payload: { kind: 'position_jump', severity: 'info', race_number: null } },
    });
    expect(bare.status).toBe(200);
    cleanup.push(() => call(stack, `/items/race_events/${bare.json.data.id}`, { token, method: 'DELETE' }));
    await waitFor(async () => (await notifications()).some((n) => n.item === bare.json.data.id), { timeoutMs: 10_000, intervalMs: 250, what: 'the second notification' });
    const [second, ...more] = (await notifications()).filter((n) => n.item === bare.json.data.id);
    expect(more).toEqual([]);
    expect((await call(stack, `/notifications?filter[recipient][_eq]=${suspended.id}&fields=id`, { token })).json.data).toEqual([]);
    expect(second!.subject).toBe('Anomaly: position jump');
    expect(second!.message).toBe('info position jump at 2026-12-07T09:30:00.000Z');
    cleanup.push(() => call(stack, `/notifications?filter[recipient][_eq]=${user.id}`, { token, method: 'DELETE' }));
  });
});
