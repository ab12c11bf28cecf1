import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { verifyWebhook } from '../../src/domain/webhooks/verify-webhook.ts';
import { isDirectusCiphertext } from '../../src/setup/directus-encrypted.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');

/**
 * On Directus 12 as on 11: the `encrypt` special keeps a subscription's secret encrypted at rest, masked for the
 * admin and in revisions, while the signed webhook still signs with it. One Flow, deleted after (five active Flows
 * at most without a licence).
 */
describe('webhook secrets on Directus 12', () => {
  const received: { raw: string; headers: IncomingHttpHeaders }[] = [];
  const secret = `whsec_${randomBytes(24).toString('hex')}`;
  let server: Server;
  let db: Knex;
  let token = '';
  let subscription: string | number = '';
  let flowId: string | null = null;
  const events: string[] = [];

  beforeAll(async () => {
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 1 } });
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk) => (raw += chunk));
      req.on('end', () => {
        received.push({ raw, headers: req.headers });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    token = await adminToken(stack);
    const res = await call(stack, '/items/webhook_subscriptions', {
      token,
      body: { name: 'Compat integrator', url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, secret, active: true, event_types: null },
    });
    expect(res.status, res.text).toBe(200);
    subscription = res.json.data.id;
  });

  afterAll(async () => {
    if (flowId) await call(stack, `/flows/${flowId}`, { token, method: 'DELETE' });
    await new Promise((r) => setTimeout(r, 500));
    if (events.length) {
      await db('webhook_deliveries').whereIn('race_event', events).delete();
      await db('race_events').whereIn('id', events).delete();
    }
    if (subscription) await call(stack, `/items/webhook_subscriptions/${subscription}`, { token, method: 'DELETE' });
    await db?.destroy();
    server?.close();
  });

  it('stores the secret encrypted, shows the admin the mask, and keeps it out of the revision', async () => {
    const stored = (await db('webhook_subscriptions').where({ id: subscription }).first('secret')).secret as string;
    expect(isDirectusCiphertext(stored)).toBe(true);
    expect(stored).not.toContain(secret);
    expect((await call(stack, `/items/webhook_subscriptions/${subscription}?fields=secret`, { token })).json.data.secret).toBe('**********');
    const revisions = await db('directus_revisions').where({ collection: 'webhook_subscriptions', item: String(subscription) }).select(db.raw('data::text AS data'), db.raw('delta::text AS delta'));
    expect(revisions).toHaveLength(1);
    expect(revisions[0].data).toContain('"secret":"**********"');
    expect(`${revisions[0].data} ${revisions[0].delta}`).not.toContain(secret);
  });

  it('signs the deliveries with the secret the admin set', async () => {
    const flow = await call(stack, '/flows', {
      token,
      body: { name: 'Test: compat signed webhook', icon: 'webhook', status: 'active', trigger: 'event', accountability: null, options: { type: 'action', scope: ['items.create'], collections: ['race_events'] } },
    });
    expect(flow.status, flow.text).toBe(200);
    flowId = flow.json.data.id;
    const op = await call(stack, '/operations', {
      token,
      body: { flow: flowId, name: 'Signed webhook', key: 'signed', type: 'pitwall-signed-webhook', position_x: 20, position_y: 1, options: { mode: 'subscriptions' } },
    });
    expect(op.status, op.text).toBe(200);
    expect((await call(stack, `/flows/${flowId}`, { token, method: 'PATCH', body: { operation: op.json.data.id } })).status).toBe(200);

    const delivered = await waitFor(async () => {
      const id = randomUUID();
      events.push(id);
      const res = await call(stack, '/items/race_events', {
        token,
        body: { id, type: 'anomaly.detected', version: 1, occurred_at: new Date().toISOString(), source: 'live', device_id: '350936080010018', payload: { kind: 'signal_loss' } },
      });
      expect(res.status, res.text).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
      return received.find((r) => events.includes(String(r.headers['pitwall-event-id'])));
    }, { timeoutMs: 30_000, intervalMs: 200, what: 'the Flow to deliver a race event' });
    expect(verifyWebhook(delivered.raw, delivered.headers['pitwall-signature'] as string, secret, Math.floor(Date.now() / 1000))).toMatchObject({ ok: true });
  });
});
