import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { verifyWebhook } from '../../src/domain/webhooks/verify-webhook.ts';
import { isDirectusCiphertext } from '../../src/setup/directus-encrypted.ts';
import { runSetup } from '../../src/setup/setup.ts';
import { launchBrowser, loginToDirectus, screenshot } from '../support/browser.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { setupOptions } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');

interface Receipt {
  path: string;
  raw: string;
  headers: IncomingHttpHeaders;
  eventId: string;
  status: number;
  at: number;
}

/**
 * Subscription secrets never land in clear where Directus or Pitwall copy them: the subscription row (Directus's
 * `encrypt` special), its revisions (data and delta), and the durable retry chains; while every delivery is still
 * signed with the secret the admin set. Also the way an older database gets there: setup encrypts the field, the
 * secrets stored in clear and the revisions that copied them.
 */
describe('webhook subscription secrets stay secret', () => {
  const receipts: Receipt[] = [];
  const answered = new Set<string>();
  let server: Server;
  let base = '';
  let db: Knex;
  let token = '';
  let flowId: string | null = null;
  const subscriptions: (string | number)[] = [];
  const raceEvents: string[] = [];
  /** Every pitwall_webhook_chains row seen while the test's chains were under way, as text. */
  const chainRowsSeen: { race_event: string; target: any; text: string }[] = [];
  let polling = false;
  let poller: Promise<void> | undefined;

  const tag = randomUUID().slice(0, 8);
  const secretA = `whsec_A_${randomBytes(20).toString('hex')}`;
  const secretB = `whsec_B_${randomBytes(20).toString('hex')}`;
  const secretC = `whsec_C_${randomBytes(20).toString('hex')}`;
  const legacySecret = `whsec_legacy_${randomBytes(20).toString('hex')}`;
  const singleSecret = `whsec_single_${randomBytes(20).toString('hex')}`;
  const urlPassword = `pw${randomBytes(8).toString('hex')}`;
  const urlToken = `tok${randomBytes(8).toString('hex')}`;
  const clearSecrets = () => [secretA, secretB, secretC, legacySecret, singleSecret, urlPassword, urlToken];
  let subA: string | number = '';
  let legacy: string | number = '';
  let eventA = '';
  let eventB = '';

  const revisionsOf = async (item: string | number) =>
    (await db('directus_revisions').where({ collection: 'webhook_subscriptions', item: String(item) }).select(db.raw('data::text AS data'), db.raw('delta::text AS delta'))) as {
      data: string | null;
      delta: string | null;
    }[];
  const storedSecret = async (id: string | number) => (await db('webhook_subscriptions').where({ id }).first('secret')).secret as string;
  const store = async () => {
    const id = randomUUID();
    raceEvents.push(id);
    const res = await call(stack, '/items/race_events', {
      token,
      body: { id, type: 'anomaly.detected', version: 1, occurred_at: new Date().toISOString(), source: 'live', device_id: '350936080010018', payload: { kind: 'signal_loss' } },
    });
    expect(res.status, res.text).toBe(200);
    return id;
  };
  const chainRows = async (eventId?: string) =>
    (await db('pitwall_webhook_chains')
      .modify((q) => (eventId ? q.where({ race_event: eventId }) : q))
      .select('race_event', 'target', db.raw('row_to_json(pitwall_webhook_chains)::text AS text'))) as typeof chainRowsSeen;
  const deliveredTo = (path: string, eventId: string) => receipts.find((r) => r.path === path && r.eventId === eventId && r.status === 200);
  const createSubscription = async (name: string, secret: string, path: string) => {
    const res = await call(stack, '/items/webhook_subscriptions', { token, body: { name: `${name} ${tag}`, url: `${base}${path}`, secret, active: true, event_types: ['anomaly.detected'] } });
    expect(res.status, res.text).toBe(200);
    subscriptions.push(res.json.data.id);
    return res.json.data.id as string | number;
  };

  beforeAll(async () => {
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    // Each event's first request to each path is answered 503, so every chain waits for a retry (and its row can
    // be seen) before it is delivered.
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk) => (raw += chunk));
      req.on('end', async () => {
        const path = (req.url ?? '/').split('?')[0]!;
        const eventId = String(req.headers['pitwall-event-id']);
        const status = answered.has(`${path}:${eventId}`) ? 200 : 503;
        answered.add(`${path}:${eventId}`);
        // A retry is made from its chain row, which stays until this answer: read it now, as well as by the poller
        // (which a loaded machine can hold up for longer than the retry's wait).
        if (status === 200 && /^[0-9a-f-]{36}$/.test(eventId)) chainRowsSeen.push(...(await chainRows(eventId).catch(() => [])));
        receipts.push({ path, raw, headers: req.headers, eventId, status, at: Date.now() });
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'try later');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    token = await adminToken(stack);
  });

  afterAll(async () => {
    polling = false;
    await poller;
    if (token) {
      if (flowId) await call(stack, `/flows/${flowId}`, { token, method: 'DELETE' });
      await new Promise((r) => setTimeout(r, 1500));
      if (raceEvents.length) {
        await db('webhook_deliveries').whereIn('race_event', raceEvents).delete();
        await db('pitwall_webhook_chains').whereIn('race_event', raceEvents).delete();
        await db('race_events').whereIn('id', raceEvents).delete();
      }
      if (subscriptions.length) await call(stack, '/items/webhook_subscriptions', { token, method: 'DELETE', body: subscriptions });
    }
    await db?.destroy();
    server?.close();
  });

  it('setup brings an older database there: the field encrypted, clear secrets encrypted, old revisions masked', async () => {
    // The field as setup used to make it: a plain masked input, stored and revised in clear.
    const old = await call(stack, '/fields/webhook_subscriptions/secret', { token, method: 'PATCH', body: { type: 'string', schema: {}, meta: { special: null, interface: 'input', options: { masked: true } } } });
    expect(old.status, old.text).toBe(200);
    try {
      legacy = await createSubscription('Test legacy', legacySecret, '/legacy');
      expect(await storedSecret(legacy)).toBe(legacySecret);
      expect((await revisionsOf(legacy)).some((r) => r.data?.includes(legacySecret))).toBe(true);
    } finally {
      const done = await runSetup(db, setupOptions(stack));
      expect(done).toEqual(expect.arrayContaining([
        'encrypt webhook_subscriptions.secret (Directus encrypt special)',
        'encrypt 1 stored webhook secret',
        'mask the webhook secret in 1 revision',
      ]));
    }
    const field = await call(stack, '/fields/webhook_subscriptions/secret', { token });
    expect(field.json.data).toMatchObject({ type: 'text', meta: { special: ['encrypt'], interface: 'input-hash' } });
    expect(isDirectusCiphertext(await storedSecret(legacy))).toBe(true);
    const revisions = await revisionsOf(legacy);
    expect(revisions.length).toBeGreaterThanOrEqual(2);
    for (const r of revisions) expect(`${r.data} ${r.delta}`).not.toContain(legacySecret);
    expect(revisions.some((r) => r.data?.includes('"**********"'))).toBe(true);

    const again = await runSetup(db, setupOptions(stack));
    expect(again.filter((line) => /webhook secret|encrypt/.test(line))).toEqual([]);
  }, 120_000);

  it('an admin creates a subscription through the API: encrypted at rest, masked when read, masked in its revision', async () => {
    subA = await createSubscription('Test secret A', secretA, '/a');
    const stored = await storedSecret(subA);
    expect(stored).not.toContain(secretA);
    expect(isDirectusCiphertext(stored)).toBe(true);
    const read = await call(stack, `/items/webhook_subscriptions/${subA}?fields=secret`, { token });
    expect(read.json.data.secret).toBe('**********');
    const revisions = await revisionsOf(subA);
    expect(revisions).toHaveLength(1);
    expect(revisions[0]!.data).toContain('"secret":"**********"');
    expect(`${revisions[0]!.data} ${revisions[0]!.delta}`).not.toContain(secretA);
  });

  it('refuses the mask as a new subscription\'s secret', async () => {
    const res = await call(stack, '/items/webhook_subscriptions', { token, body: { name: `Test copy ${tag}`, url: `${base}/copy`, secret: '**********', active: false } });
    expect(res.status).toBe(400);
    expect(res.text).toContain('set the new subscription\'s own secret');
  });

  it('delivers signed with the secret the admin set, and no chain row holds a secret, a password or a token', async () => {
    const flow = await call(stack, '/flows', {
      token,
      body: { name: `Test: webhook secrets ${tag}`, icon: 'webhook', status: 'active', trigger: 'event', accountability: null, options: { type: 'action', scope: ['items.create'], collections: ['race_events'] } },
    });
    expect(flow.status, flow.text).toBe(200);
    flowId = flow.json.data.id;
    const policy = { max_attempts: 3, timeout_ms: 3000, base_delay_ms: 1200, max_delay_ms: 1200, deadline_ms: 20_000 };
    const single = await call(stack, '/operations', {
      token,
      body: {
        flow: flowId, name: 'One URL', key: 'single', type: 'pitwall-signed-webhook', position_x: 38, position_y: 1,
        options: { mode: 'single', url: `http://integrator:${urlPassword}@127.0.0.1:${new URL(base).port}/single?token=${urlToken}`, secret: singleSecret, ...policy },
      },
    });
    expect(single.status, single.text).toBe(200);
    const subs = await call(stack, '/operations', {
      token,
      body: { flow: flowId, name: 'Subscriptions', key: 'subs', type: 'pitwall-signed-webhook', position_x: 20, position_y: 1, resolve: single.json.data.id, options: { mode: 'subscriptions', ...policy } },
    });
    expect(subs.status, subs.text).toBe(200);
    expect((await call(stack, `/flows/${flowId}`, { token, method: 'PATCH', body: { operation: subs.json.data.id } })).status).toBe(200);

    polling = true;
    poller = (async () => {
      while (polling) {
        chainRowsSeen.push(...(await chainRows()));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    // Flows load asynchronously after a save: store events until one is delivered everywhere.
    eventA = await waitFor(async () => {
      const id = await store();
      await new Promise((r) => setTimeout(r, 300));
      return receipts.some((r) => r.path === '/a' && r.eventId === id) ? id : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200, what: 'the Flow to send a race event' });
    await waitFor(async () => ['/a', '/legacy', '/single'].every((path) => deliveredTo(path, eventA)), { timeoutMs: 30_000, intervalMs: 100, what: 'every target to be delivered' });

    const now = Math.floor(Date.now() / 1000);
    for (const [path, secret] of [['/a', secretA], ['/legacy', legacySecret], ['/single', singleSecret]] as const) {
      const own = receipts.filter((r) => r.path === path && r.eventId === eventA);
      expect(own.map((r) => r.status), path).toEqual([503, 200]);
      for (const r of own) expect(verifyWebhook(r.raw, r.headers['pitwall-signature'] as string, secret, now), path).toMatchObject({ ok: true });
    }
    // The one-off URL's userinfo went where it belongs: the request's basic authentication.
    const basic = receipts.find((r) => r.path === '/single')!.headers.authorization;
    expect(Buffer.from(String(basic).replace(/^Basic /, ''), 'base64').toString()).toBe(`integrator:${urlPassword}`);

    const ofA = chainRowsSeen.filter((r) => r.race_event === eventA);
    expect(ofA.some((r) => JSON.stringify(r.target) === JSON.stringify({ subscription: subA }))).toBe(true);
    expect(ofA.some((r) => r.target.subscription === null && String(r.target.sealed).startsWith('enc:v1:'))).toBe(true);
    for (const row of chainRowsSeen) for (const clear of clearSecrets()) expect(row.text).not.toContain(clear);
  }, 90_000);

  it('a replaced secret signs the next deliveries, is never copied into a revision, and the mask sent back changes nothing', async () => {
    const patched = await call(stack, `/items/webhook_subscriptions/${subA}`, { token, method: 'PATCH', body: { secret: secretB } });
    expect(patched.status, patched.text).toBe(200);
    // What a revert to an old revision or a client sending back what it read would do.
    const masked = await call(stack, `/items/webhook_subscriptions/${subA}`, { token, method: 'PATCH', body: { secret: '**********', name: `Test secret A renamed ${tag}` } });
    expect(masked.status, masked.text).toBe(200);

    eventB = await store();
    await waitFor(async () => deliveredTo('/a', eventB), { timeoutMs: 20_000, intervalMs: 100, what: 'the event to be delivered with the new secret' });
    const now = Math.floor(Date.now() / 1000);
    for (const r of receipts.filter((x) => x.path === '/a' && x.eventId === eventB)) {
      expect(verifyWebhook(r.raw, r.headers['pitwall-signature'] as string, secretB, now)).toMatchObject({ ok: true });
      expect(verifyWebhook(r.raw, r.headers['pitwall-signature'] as string, secretA, now).ok).toBe(false);
    }

    const revisions = await revisionsOf(subA);
    expect(revisions.length).toBeGreaterThanOrEqual(3);
    for (const r of revisions) for (const clear of clearSecrets()) expect(`${r.data} ${r.delta}`).not.toContain(clear);
    await waitFor(async () => ['/legacy', '/single'].every((path) => deliveredTo(path, eventB)), { timeoutMs: 20_000, intervalMs: 100, what: 'the other targets' });
    polling = false;
    await poller;
    for (const row of chainRowsSeen) for (const clear of clearSecrets()) expect(row.text).not.toContain(clear);
    expect(chainRowsSeen.filter((r) => r.race_event === eventB).length).toBeGreaterThan(0);
  }, 60_000);

  it('in the admin app the secret shows no clear text, and a secret typed into it replaces the stored one', async () => {
    const before = (await revisionsOf(subA)).length;
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
      await loginToDirectus(page, stack);
      await page.goto(`${stack.directusUrl}/admin/content/webhook_subscriptions/${subA}`);
      const input = page.locator('div.field[data-field="secret"] input');
      await expect.poll(() => input.count(), { timeout: 30_000 }).toBe(1);
      expect(await input.getAttribute('type')).toBe('password');
      expect(await input.inputValue()).toBe('');
      // The placeholder comes with the item, after the input shows.
      await expect.poll(() => input.getAttribute('placeholder'), { timeout: 15_000 }).toBe('Value Securely Stored');
      const html = await page.content();
      for (const clear of clearSecrets()) expect(html).not.toContain(clear);
      await screenshot(page, 'webhook-secret-form');
      await input.fill(secretC);
      await page.locator('button:has(i[data-icon="check"])').first().click();
      await waitFor(async () => (await revisionsOf(subA)).length > before, { timeoutMs: 15_000, intervalMs: 200, what: 'the app to save the item' });
      await screenshot(page, 'webhook-secret-saved');
    } finally {
      await browser.close();
    }
    const eventC = await store();
    await waitFor(async () => deliveredTo('/a', eventC), { timeoutMs: 20_000, intervalMs: 100, what: 'the event to be delivered with the secret set in the app' });
    const now = Math.floor(Date.now() / 1000);
    for (const r of receipts.filter((x) => x.path === '/a' && x.eventId === eventC)) {
      expect(verifyWebhook(r.raw, r.headers['pitwall-signature'] as string, secretC, now)).toMatchObject({ ok: true });
    }
    for (const r of await revisionsOf(subA)) for (const clear of clearSecrets()) expect(`${r.data} ${r.delta}`).not.toContain(clear);
  }, 90_000);

  it('records no credential of the one-off URL in webhook_deliveries', async () => {
    // Directus records an attempt after its answer: every target's delivery of both events, before reading them all.
    const rows = await waitFor(async () => {
      const found = (await db('webhook_deliveries').whereIn('race_event', [eventA, eventB]).select('error', 'status_code', 'outcome')) as {
        error: string | null; status_code: number | null; outcome: string;
      }[];
      return found.filter((r) => r.outcome === 'delivered').length === 6 ? found : undefined;
    }, { timeoutMs: 10_000, intervalMs: 100, what: 'the deliveries of both events to each of the three targets to be recorded' });
    expect(rows.some((r) => r.status_code === 503 && r.error === 'HTTP 503: try later')).toBe(true);
    for (const row of rows) for (const clear of clearSecrets()) expect(String(row.error)).not.toContain(clear);
  });
});
