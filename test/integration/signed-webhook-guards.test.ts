import { createServer, type Server } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminToken, call } from '../support/directus-client.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');

interface Delivery {
  subscription: string | number | null;
  attempt: number;
  status_code: number | null;
  outcome: string;
  error: string | null;
  created_at?: string;
}

/**
 * What the pitwall-signed-webhook operation refuses and how long it may hold a Flow run. One Flow, four
 * subscriptions: two pointing at the cloud metadata address that IMPORT_IP_DENY_LIST denies (the test stack denies
 * 169.254.169.254 and allows loopback), one healthy receiver, one that always answers 503. A Request step after the
 * signed webhook reports the operation's counts, so the test sees when the Flow run went on.
 */
describe('the pitwall-signed-webhook operation: denied addresses and a bounded wait', () => {
  const received: { path: string; at: number; body: any; eventId: string | undefined }[] = [];
  let server: Server;
  let token = '';
  let flowId: string | null = null;
  const subs: Record<string, string | number> = {};
  const raceEventIds: string[] = [];
  let eventId = '';
  let storedAt = 0;
  const DEADLINE_MS = 1500;

  const deliveries = async (raceEvent: string) => {
    const res = await call(stack, `/items/webhook_deliveries?filter[race_event][_eq]=${raceEvent}&fields=subscription,attempt,status_code,outcome,error&sort=attempt&limit=-1`, { token });
    expect(res.status).toBe(200);
    return res.json.data as Delivery[];
  };
  const of = (rows: Delivery[], key: string) => rows.filter((r) => r.subscription === subs[key]);

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk) => (raw += chunk));
      req.on('end', () => {
        let body: any = null;
        try {
          body = JSON.parse(raw);
        } catch {
          body = null;
        }
        const path = req.url ?? '/';
        received.push({ path, at: Date.now(), body, eventId: req.headers['pitwall-event-id'] as string | undefined });
        res.writeHead(path === '/down' ? 503 : 200).end(path === '/down' ? 'down for maintenance' : 'ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    token = await adminToken(stack);

    const tag = randomUUID().slice(0, 8);
    const urls: Record<string, string> = {
      metadata: 'http://169.254.169.254/latest/meta-data/',
      mapped: 'http://[::ffff:a9fe:a9fe]/hook',
      ok: `${base}/ok`,
      down: `${base}/down`,
    };
    for (const [key, url] of Object.entries(urls)) {
      const res = await call(stack, '/items/webhook_subscriptions', {
        token,
        body: { name: `Test guard ${key} ${tag}`, url, secret: randomBytes(16).toString('hex'), active: true, event_types: null },
      });
      expect(res.status, res.text).toBe(200);
      subs[key] = res.json.data.id;
    }

    const flow = await call(stack, '/flows', {
      token,
      body: { name: `Test: webhook guards ${tag}`, icon: 'webhook', status: 'active', trigger: 'event', accountability: null, options: { type: 'action', scope: ['items.create'], collections: ['race_events'] } },
    });
    expect(flow.status, flow.text).toBe(200);
    flowId = flow.json.data.id;
    const report = await call(stack, '/operations', {
      token,
      body: { flow: flowId, name: 'Report', key: 'report', type: 'request', position_x: 38, position_y: 1, options: { method: 'POST', url: `${base}/done`, body: '{"event": "{{$trigger.key}}", "counts": {{signed}}}' } },
    });
    expect(report.status, report.text).toBe(200);
    const signed = await call(stack, '/operations', {
      token,
      body: {
        flow: flowId, name: 'Signed webhook', key: 'signed', type: 'pitwall-signed-webhook', position_x: 20, position_y: 1, resolve: report.json.data.id,
        options: { mode: 'subscriptions', max_attempts: 20, timeout_ms: 1000, base_delay_ms: 300, max_delay_ms: 300, deadline_ms: DEADLINE_MS },
      },
    });
    expect(signed.status, signed.text).toBe(200);
    expect((await call(stack, `/flows/${flowId}`, { token, method: 'PATCH', body: { operation: signed.json.data.id } })).status).toBe(200);

    // Flows reload asynchronously after a save: store events until one reaches the healthy receiver.
    eventId = await waitFor(async () => {
      const id = randomUUID();
      raceEventIds.push(id);
      storedAt = Date.now();
      const res = await call(stack, '/items/race_events', {
        token,
        body: { id, type: 'anomaly.detected', version: 1, occurred_at: new Date().toISOString(), source: 'live', device_id: '350936080010018', payload: { kind: 'signal_loss' } },
      });
      expect(res.status, res.text).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
      return received.find((r) => r.path === '/ok' && r.eventId === id)?.eventId;
    }, { timeoutMs: 30_000, intervalMs: 200, what: 'the Flow to deliver a race event' });
    await waitFor(async () => received.some((r) => r.path === '/done' && r.body?.event === eventId), { timeoutMs: 15_000, intervalMs: 100, what: 'the Flow run to end' });
  }, 90_000);

  afterAll(async () => {
    if (token) {
      if (flowId) await call(stack, `/flows/${flowId}`, { token, method: 'DELETE' });
      // Let runs of the polling events end (each within the deadline) before their rows are removed.
      await new Promise((r) => setTimeout(r, DEADLINE_MS + 500));
      const subIds = Object.values(subs);
      if (subIds.length) await call(stack, '/items/webhook_deliveries', { token, method: 'DELETE', body: { query: { filter: { subscription: { _in: subIds } }, limit: -1 } } });
      if (raceEventIds.length) await call(stack, '/items/race_events', { token, method: 'DELETE', body: raceEventIds });
      if (subIds.length) await call(stack, '/items/webhook_subscriptions', { token, method: 'DELETE', body: subIds });
    }
    server?.close();
  });

  it('refuses URLs that resolve to a denied address, sends nothing, and records a failed attempt with the reason', async () => {
    const rows = await deliveries(eventId);
    for (const key of ['metadata', 'mapped']) {
      const own = of(rows, key);
      expect(own, key).toHaveLength(1);
      expect(own[0]).toMatchObject({ attempt: 1, status_code: null, outcome: 'failed' });
      expect(own[0]!.error).toMatch(/^DeniedAddressError: Requested URL ".+" resolves to a denied IP address \((169\.254\.169\.254|::ffff:a9fe:a9fe); see IMPORT_IP_DENY_LIST\)$/);
    }
  });

  it('delivers to the healthy subscriber at once, whatever the others do', async () => {
    const rows = await deliveries(eventId);
    expect(of(rows, 'ok').map(({ attempt, status_code, outcome }) => ({ attempt, status_code, outcome }))).toEqual([{ attempt: 1, status_code: 200, outcome: 'delivered' }]);
    const ok = received.find((r) => r.path === '/ok' && r.eventId === eventId)!;
    const firstDown = received.find((r) => r.path === '/down' && r.eventId === eventId)!;
    const lastDown = received.filter((r) => r.path === '/down' && r.eventId === eventId).at(-1)!;
    expect(ok.at - storedAt).toBeLessThan(1000);
    expect(ok.at).toBeLessThan(lastDown.at);
    expect(Math.abs(ok.at - firstDown.at)).toBeLessThan(300);
  });

  it('gives up on a subscriber that keeps failing when its delivery window is over, and says so', async () => {
    const down = of(await deliveries(eventId), 'down');
    expect(down.length).toBeGreaterThanOrEqual(2);
    expect(down.length).toBeLessThan(20);
    expect(down.slice(0, -1).every((r) => r.outcome === 'retrying' && r.status_code === 503)).toBe(true);
    expect(down.at(-1)).toMatchObject({ status_code: 503, outcome: 'failed' });
    expect(down.at(-1)!.error).toBe(`HTTP 503: down for maintenance; gave up: the ${DEADLINE_MS} ms delivery window is over`);
  });

  it('leaves no retry chain behind once every subscriber\'s chain has ended', async () => {
    const db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 1 } });
    try {
      expect(await db('pitwall_webhook_chains').where({ race_event: eventId }).select('target_key')).toEqual([]);
    } finally {
      await db.destroy();
    }
  });

  it('holds the Flow run no longer than the window, then the Flow goes on with true counts', () => {
    const done = received.find((r) => r.path === '/done' && r.body?.event === eventId)!;
    expect(done.body.counts).toEqual({ delivered: 1, failed: 3, interrupted: 0, subscriptions: 4 });
    const firstDown = received.find((r) => r.path === '/down' && r.eventId === eventId)!;
    expect(done.at - firstDown.at).toBeLessThan(DEADLINE_MS + 1000);
  });
});

/**
 * What a subscription may be written as: event types the step could filter by (a bare string or an object filtered
 * nothing, so it received every event; a misspelt type received nothing, silently) and a URL it can POST to. A wrong
 * write is refused with a 400 naming the field, and nothing is stored.
 */
describe('webhook subscriptions the signed-webhook step could not honour', () => {
  let token = '';
  const tag = randomUUID().slice(0, 8);
  const created: (string | number)[] = [];
  const body = (extra: Record<string, unknown>) => ({ name: `Test subscription guard ${tag}`, url: 'https://integrator.example/pitwall', secret: randomBytes(16).toString('hex'), active: false, ...extra });
  const create = (payload: unknown, as = token) => call(stack, '/items/webhook_subscriptions', { token: as, body: payload });
  const read = async (id: string | number) => (await call(stack, `/items/webhook_subscriptions/${id}?fields=url,event_types`, { token })).json.data;
  const ours = async () => (await call(stack, `/items/webhook_subscriptions?filter[name][_contains]=${tag}&fields=id&limit=-1`, { token })).json.data as { id: string | number }[];
  const expectRefused = (res: Awaited<ReturnType<typeof call>>, field: string, reason: string | RegExp) => {
    expect(res.status, res.text).toBe(400);
    expect(res.json.errors[0].extensions.issues.map((i: { path: string[] }) => i.path)).toEqual([[field]]);
    expect(res.json.errors[0].extensions.reason).toMatch(reason);
  };

  beforeAll(async () => {
    token = await adminToken(stack);
  });

  afterAll(async () => {
    const ids = token ? [...created, ...(await ours()).map((r) => r.id)] : [];
    if (ids.length) await call(stack, '/items/webhook_subscriptions', { token, method: 'DELETE', body: [...new Set(ids)] });
  });

  it('refuses event types that are no list or not in the catalogue, and a URL that is not http(s), naming the field', async () => {
    expectRefused(await create(body({ event_types: 'anomaly.detected' })), 'event_types', /^event_types: expected a list of event types .*, not "anomaly\.detected"$/);
    expectRefused(await create(body({ event_types: { a: 1 } })), 'event_types', /^event_types: expected a list of event types/);
    expectRefused(await create(body({ event_types: ['anomaly.detetced'] })), 'event_types', /^event_types: unknown event type "anomaly\.detetced"; the types are .*\banomaly\.detected\b/);
    expectRefused(await create(body({ url: 'ftp://x' })), 'url', 'url: expected an absolute http: or https: URL, not ftp:');
    // Directus's required check lets an empty secret through; every delivery of it would fail.
    expectRefused(await create(body({ secret: '' })), 'secret', 'secret: expected the text the deliveries are signed with, not an empty one');
    // One bad row of a list refuses the whole request.
    expectRefused(await create([body({ event_types: ['anomaly.detected'] }), body({ event_types: ['anomaly.detetced'] })]), 'event_types', /unknown event type/);
    expect(await ours()).toEqual([]);
  });

  it('takes a list of catalogue types', async () => {
    const res = await create(body({ event_types: ['anomaly.detected', 'stage.result.computed'] }));
    expect(res.status, res.text).toBe(200);
    created.push(res.json.data.id);
    expect(await read(res.json.data.id)).toEqual({ url: 'https://integrator.example/pitwall', event_types: ['anomaly.detected', 'stage.result.computed'] });
  });

  it('refuses an update that would break a row and leaves the row as it was; takes a valid one', async () => {
    const res = await create(body({ event_types: ['stage.result.computed'] }));
    expect(res.status, res.text).toBe(200);
    const id = res.json.data.id;
    created.push(id);
    const patch = (payload: Record<string, unknown>) => call(stack, `/items/webhook_subscriptions/${id}`, { token, method: 'PATCH', body: payload });
    expectRefused(await patch({ event_types: 'anomaly.detected' }), 'event_types', /expected a list of event types/);
    expectRefused(await patch({ event_types: ['anomaly.detected', 'replay.complete'] }), 'event_types', /unknown event type "replay\.complete"/);
    expectRefused(await patch({ url: 'ftp://x' }), 'url', /not ftp:/);
    expect(await read(id)).toEqual({ url: 'https://integrator.example/pitwall', event_types: ['stage.result.computed'] });

    const valid = await patch({ event_types: ['anomaly.detected', 'replay.completed'], url: 'http://integrator.example/hooks' });
    expect(valid.status, valid.text).toBe(200);
    expect(await read(id)).toEqual({ url: 'http://integrator.example/hooks', event_types: ['anomaly.detected', 'replay.completed'] });
  });

  it('leaves a caller who may not write subscriptions to Directus, which answers 403 without saying what a row needs', async () => {
    const res = await create(body({ event_types: 'anomaly.detected', url: 'ftp://x' }), stack.processorToken);
    expect(res.status, res.text).toBe(403);
    expect(res.text).not.toContain('event_types');
  });
});
