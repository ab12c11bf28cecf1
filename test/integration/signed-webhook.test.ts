import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { verifyWebhook } from '../../src/domain/webhooks/verify-webhook.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');

interface Received {
  sub: string;
  at: number;
  raw: string;
  body: any;
  headers: IncomingHttpHeaders;
  status: number;
}

/**
 * One Flow (Event Hook on race_events items.create → pitwall-signed-webhook) serving every integrator:
 * A answers 500 twice then 200, B always 200, C 404; D is inactive; E only wants stage results.
 */
describe('the pitwall-signed-webhook operation', () => {
  const received: Received[] = [];
  const perEventCalls = new Map<string, number>();
  let server: Server;
  let base = '';
  let token = '';
  let flowId: string | null = null;
  const subs: Record<string, { id?: string | number; secret: string; name: string }> = {};
  const raceEventIds: string[] = [];
  let eventId = '';

  /** Subscriptions of the last test: what each answers, and what happens to it as its first request arrives. */
  const fixed = new Map<string, number>([['f', 500], ['g', 200], ['h', 500], ['k', 500]]);
  const onFirstRequest = new Map<string, () => Promise<unknown>>();

  const answer = (sub: string, eventKey: string): number => {
    const known = fixed.get(sub);
    if (known !== undefined) return known;
    if (sub === 'b' || sub === 'd' || sub === 'e') return 200;
    if (sub === 'c') return 404;
    const n = (perEventCalls.get(eventKey) ?? 0) + 1;
    perEventCalls.set(eventKey, n);
    return n <= 2 ? 500 : 200;
  };

  const store = async (type: string) => {
    const id = randomUUID();
    raceEventIds.push(id);
    const res = await call(stack, '/items/race_events', {
      token,
      body: { id, type, version: 1, occurred_at: new Date().toISOString(), source: 'live', device_id: '350936080010018', payload: { kind: 'signal_loss', severity: 'warning' } },
    });
    expect(res.status).toBe(200);
    return id;
  };

  const deliveries = async (raceEvent: string) => {
    const res = await call(stack, `/items/webhook_deliveries?filter[race_event][_eq]=${raceEvent}&fields=subscription,race_event,attempt,status_code,outcome,error,duration_ms&sort=attempt&limit=-1`, { token });
    expect(res.status).toBe(200);
    return res.json.data as { subscription: string | number | null; attempt: number; status_code: number | null; outcome: string; error: string | null; duration_ms: number }[];
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk) => (raw += chunk));
      req.on('end', async () => {
        const sub = (req.url ?? '/').slice(1);
        const first = onFirstRequest.get(sub);
        onFirstRequest.delete(sub);
        await first?.();
        const eventKey = `${sub}:${req.headers['pitwall-event-id']}`;
        const status = answer(sub, eventKey);
        let body: any = null;
        try {
          body = JSON.parse(raw);
        } catch {
          body = null;
        }
        received.push({ sub, at: Date.now(), raw, body, headers: req.headers, status });
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'nope');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    token = await adminToken(stack);

    const tag = randomUUID().slice(0, 8);
    const define: [string, { active: boolean; event_types: string[] | null }][] = [
      ['a', { active: true, event_types: null }],
      ['b', { active: true, event_types: [] }],
      ['c', { active: true, event_types: ['anomaly.detected'] }],
      ['d', { active: false, event_types: null }],
      ['e', { active: true, event_types: ['stage.result.computed'] }],
    ];
    for (const [key, o] of define) {
      const secret = randomBytes(24).toString('hex');
      const name = `Test integrator ${key.toUpperCase()} ${tag}`;
      const res = await call(stack, '/items/webhook_subscriptions', { token, body: { name, url: `${base}/${key}`, secret, ...o } });
      expect(res.status, res.text).toBe(200);
      subs[key] = { id: res.json.data.id, secret, name };
    }

    // The Flow as an admin builds it in the app.
    const flow = await call(stack, '/flows', {
      token,
      body: {
        name: `Test: signed webhooks ${tag}`,
        icon: 'webhook',
        status: 'active',
        trigger: 'event',
        accountability: null,
        options: { type: 'action', scope: ['items.create'], collections: ['race_events'] },
      },
    });
    expect(flow.status, flow.text).toBe(200);
    flowId = flow.json.data.id;
    const op = await call(stack, '/operations', {
      token,
      body: {
        flow: flowId,
        name: 'Signed webhook',
        key: 'signed_webhook',
        type: 'pitwall-signed-webhook',
        position_x: 20,
        position_y: 1,
        options: { mode: 'subscriptions', event: '{{$trigger.payload}}', max_attempts: 4, timeout_ms: 3000, base_delay_ms: 400, max_delay_ms: 2000 },
      },
    });
    expect(op.status, op.text).toBe(200);
    expect((await call(stack, `/flows/${flowId}`, { token, method: 'PATCH', body: { operation: op.json.data.id } })).status).toBe(200);

    // Flows reload asynchronously after a save: keep storing events until one reaches B.
    eventId = await waitFor(async () => {
      await store('anomaly.detected');
      return received.find((r) => r.sub === 'b')?.headers['pitwall-event-id'] as string | undefined;
    }, { timeoutMs: 30_000, intervalMs: 1000, what: 'the Flow to deliver a race event to B' });

    // Wait until A's retries are over and every attempt is recorded.
    await waitFor(async () => {
      const rows = await deliveries(eventId);
      return rows.some((r) => r.subscription === subs.a!.id && r.outcome === 'delivered') && rows.some((r) => r.subscription === subs.c!.id) ? rows : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300, what: 'all deliveries to be recorded' });
  }, 120_000);

  afterAll(async () => {
    if (token) {
      if (flowId) await call(stack, `/flows/${flowId}`, { token, method: 'DELETE' });
      // Let any delivery still in flight (from the polling events) finish before removing its rows.
      await new Promise((r) => setTimeout(r, 1500));
      if (raceEventIds.length) {
        await call(stack, '/items/webhook_deliveries', { token, method: 'DELETE', body: { query: { filter: { race_event: { _in: raceEventIds } } } } });
        await call(stack, '/items/race_events', { token, method: 'DELETE', body: raceEventIds });
      }
      const subIds = Object.values(subs).map((s) => s.id).filter((id) => id !== undefined);
      if (subIds.length) {
        await call(stack, '/items/webhook_deliveries', { token, method: 'DELETE', body: { query: { filter: { subscription: { _in: subIds } } } } });
        await call(stack, '/items/webhook_subscriptions', { token, method: 'DELETE', body: subIds });
      }
    }
    server?.close();
  });

  const forEvent = (sub: string) => received.filter((r) => r.sub === sub && r.headers['pitwall-event-id'] === eventId);

  it('retries A on 500 until delivered, with the same event id and a valid signature each time', () => {
    const a = forEvent('a');
    expect(a.map((r) => r.status)).toEqual([500, 500, 200]);
    expect(a.map((r) => r.headers['pitwall-delivery-attempt'])).toEqual(['1', '2', '3']);
    for (const r of a) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(verifyWebhook(r.raw, r.headers['pitwall-signature'] as string, subs.a!.secret, Math.floor(Date.now() / 1000))).toMatchObject({ ok: true });
      // Another integrator's secret does not verify it.
      expect(verifyWebhook(r.raw, r.headers['pitwall-signature'] as string, subs.b!.secret, Math.floor(Date.now() / 1000)).ok).toBe(false);
    }
    expect(a[0]!.body).toMatchObject({ id: eventId, type: 'anomaly.detected', version: 1, source: 'live', device_id: '350936080010018', data: { kind: 'signal_loss', severity: 'warning' } });
    expect(a.every((r) => r.raw === a[0]!.raw)).toBe(true);
  });

  it('delivers to B once and without waiting for A\'s retries', () => {
    const b = forEvent('b');
    expect(b).toHaveLength(1);
    expect(verifyWebhook(b[0]!.raw, b[0]!.headers['pitwall-signature'] as string, subs.b!.secret, Math.floor(Date.now() / 1000))).toMatchObject({ ok: true });
    const aLast = forEvent('a').at(-1)!;
    expect(b[0]!.at).toBeLessThan(aLast.at);
  });

  it('gives up on C at once after a 404', () => {
    expect(forEvent('c').map((r) => r.status)).toEqual([404]);
  });

  it('sends nothing to an inactive subscription or one that wants other event types', () => {
    expect(received.filter((r) => r.sub === 'd' || r.sub === 'e')).toEqual([]);
  });

  it('records every attempt and outcome in webhook_deliveries, readable by admins', async () => {
    const rows = await deliveries(eventId);
    const of = (key: string) => rows.filter((r) => r.subscription === subs[key]!.id).map(({ attempt, status_code, outcome }) => ({ attempt, status_code, outcome }));
    expect(of('a')).toEqual([
      { attempt: 1, status_code: 500, outcome: 'retrying' },
      { attempt: 2, status_code: 500, outcome: 'retrying' },
      { attempt: 3, status_code: 200, outcome: 'delivered' },
    ]);
    expect(of('b')).toEqual([{ attempt: 1, status_code: 200, outcome: 'delivered' }]);
    expect(of('c')).toEqual([{ attempt: 1, status_code: 404, outcome: 'failed' }]);
    expect(of('d')).toEqual([]);
    expect(of('e')).toEqual([]);
    expect(rows.find((r) => r.subscription === subs.c!.id)!.error).toContain('404');
    expect(rows.every((r) => typeof r.duration_ms === 'number' && r.duration_ms >= 0)).toBe(true);
  });

  it('sends no more retries to a subscription re-pointed, switched off or deleted while they are under way', async () => {
    const made: (string | number)[] = [];
    const subscribe = async (key: string) => {
      const res = await call(stack, '/items/webhook_subscriptions', {
        token, body: { name: `Test integrator ${key.toUpperCase()} ${randomUUID().slice(0, 8)}`, url: `${base}/${key}`, secret: randomBytes(24).toString('hex'), active: true, event_types: ['anomaly.detected'] },
      });
      expect(res.status, res.text).toBe(200);
      made.push(res.json.data.id);
      return res.json.data.id as string | number;
    };
    try {
      const [moved, off, gone] = [await subscribe('f'), await subscribe('h'), await subscribe('k')];
      const newSecret = randomBytes(24).toString('hex');
      // Each changed as its first attempt arrives, before it is answered 500: the retry comes after the change.
      onFirstRequest.set('f', () => call(stack, `/items/webhook_subscriptions/${moved}`, { token, method: 'PATCH', body: { url: `${base}/g`, secret: newSecret } }));
      onFirstRequest.set('h', () => call(stack, `/items/webhook_subscriptions/${off}`, { token, method: 'PATCH', body: { active: false } }));
      onFirstRequest.set('k', () => call(stack, `/items/webhook_subscriptions/${gone}`, { token, method: 'DELETE' }));
      const id = await store('anomaly.detected');
      const to = (sub: string) => received.filter((r) => r.sub === sub && r.headers['pitwall-event-id'] === id);
      await waitFor(async () => to('g').length === 1 && (await deliveries(id)).some((r) => r.subscription === off && r.outcome === 'failed'), { timeoutMs: 20_000, intervalMs: 200, what: 'the retries after the changes' });
      // Past the longest wait between attempts (2 s here): no more attempts come.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect([to('f').length, to('h').length, to('k').length]).toEqual([1, 1, 1]);
      expect(to('g').map((r) => r.headers['pitwall-delivery-attempt'])).toEqual(['2']);
      expect(verifyWebhook(to('g')[0]!.raw, to('g')[0]!.headers['pitwall-signature'] as string, newSecret, Math.floor(Date.now() / 1000))).toMatchObject({ ok: true });
      const rows = await deliveries(id);
      expect(rows.filter((r) => r.subscription === off).map((r) => [r.attempt, r.status_code, r.outcome, r.error])).toEqual([
        [1, 500, 'retrying', 'HTTP 500: nope'],
        [2, null, 'failed', 'the subscription was switched off while its retries were under way'],
      ]);
      expect(rows.filter((r) => r.subscription === gone)).toEqual([]);
    } finally {
      for (const id of made) await call(stack, `/items/webhook_subscriptions/${id}`, { token, method: 'DELETE' });
    }
  });
});
