import { createServer, type Server } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, call } from '../support/directus-client.ts';
import { startRestartableStack, type RestartableStack } from '../support/restartable-stack.ts';
import { waitFor } from '../support/wait-for.ts';

interface Delivery {
  subscription: string;
  attempt: number;
  status_code: number | null;
  outcome: string;
  error: string | null;
}

/**
 * A Directus as an operator runs it, with no PITWALL_WEBHOOK_ALLOW_LIST: only IMPORT_IP_DENY_LIST is relaxed (to
 * 169.254.169.254), so whatever refuses loopback here is Pitwall's own default. Subscriptions to a private address,
 * a unique-local IPv6 address and a host name that resolves to 127.0.0.1 (where a receiver listens) each get one
 * failed delivery with a clear reason, nothing reaches the receiver, and no credential of a URL is recorded.
 */
describe('webhooks to private and unique-local addresses are refused by default', () => {
  let restartable: RestartableStack | undefined;
  let db: Knex;
  let server: Server;
  let received = 0;
  let token = '';
  const subs: Record<string, string> = {};
  let eventId = '';
  let rows: Delivery[] = [];
  const password = `pw${randomBytes(6).toString('hex')}`;
  const queryToken = `tok${randomBytes(6).toString('hex')}`;
  const apiKey = `key${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    restartable = await startRestartableStack('webhook_guard', 11, { PITWALL_WEBHOOK_ALLOW_LIST: '' });
    const { stack } = restartable;
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    server = createServer((req, res) => {
      received++;
      req.resume();
      res.writeHead(200).end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    token = await adminToken(stack);

    const urls: Record<string, string> = {
      private: `http://alice:${password}@10.0.0.1/hook?token=${queryToken}&page=1`,
      uniqueLocal: `http://[fd00::1]:8080/hook?api_key=${apiKey}`,
      loopbackName: `http://localhost:${port}/hook`,
    };
    for (const [key, url] of Object.entries(urls)) {
      const res = await call(stack, '/items/webhook_subscriptions', { token, body: { name: `Guard ${key}`, url, secret: randomBytes(24).toString('hex'), active: true, event_types: null } });
      expect(res.status, res.text).toBe(200);
      subs[key] = String(res.json.data.id);
    }
    const flow = await call(stack, '/flows', {
      token,
      body: { name: 'Test: refused addresses', icon: 'webhook', status: 'active', trigger: 'event', accountability: null, options: { type: 'action', scope: ['items.create'], collections: ['race_events'] } },
    });
    expect(flow.status, flow.text).toBe(200);
    const op = await call(stack, '/operations', {
      token,
      body: { flow: flow.json.data.id, name: 'Signed webhook', key: 'signed', type: 'pitwall-signed-webhook', position_x: 20, position_y: 1, options: { mode: 'subscriptions', max_attempts: 5, base_delay_ms: 100 } },
    });
    expect(op.status, op.text).toBe(200);
    expect((await call(stack, `/flows/${flow.json.data.id}`, { token, method: 'PATCH', body: { operation: op.json.data.id } })).status).toBe(200);

    // Flows load asynchronously after a save: store events until one has a delivery row for every subscription.
    [eventId, rows] = await waitFor(async () => {
      const id = randomUUID();
      const res = await call(stack, '/items/race_events', {
        token,
        body: { id, type: 'anomaly.detected', version: 1, occurred_at: new Date().toISOString(), source: 'live', device_id: '350936080010018', payload: { kind: 'signal_loss' } },
      });
      expect(res.status, res.text).toBe(200);
      await new Promise((r) => setTimeout(r, 500));
      const found = (await db('webhook_deliveries').where({ race_event: id }).select('subscription', 'attempt', 'status_code', 'outcome', 'error')) as Delivery[];
      return found.length >= 3 ? ([id, found] as [string, Delivery[]]) : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200, what: 'the Flow to record the refused deliveries' });
  }, 180_000);

  afterAll(async () => {
    server?.close();
    await db?.destroy();
    await restartable?.destroy();
  });

  const of = (key: string) => rows.filter((r) => r.subscription === subs[key]);

  it('records one failed attempt per refused subscription, with no status and no retry', () => {
    for (const key of Object.keys(subs)) {
      expect(of(key).map(({ attempt, status_code, outcome }) => ({ attempt, status_code, outcome })), key).toEqual([{ attempt: 1, status_code: null, outcome: 'failed' }]);
    }
  });

  it('says which address was refused, why, and how to allow a receiver on an internal network', () => {
    expect(of('private')[0]!.error).toBe(
      `DeniedAddressError: Requested URL "http://***@10.0.0.1/hook?token=***&page=1" resolves to a denied IP address (10.0.0.1; private network (RFC 1918), refused unless PITWALL_WEBHOOK_ALLOW_LIST allows it)`,
    );
    expect(of('uniqueLocal')[0]!.error).toBe(
      `DeniedAddressError: Requested URL "http://[fd00::1]:8080/hook?api_key=***" resolves to a denied IP address (fd00::1; unique-local IPv6 (RFC 4193), refused unless PITWALL_WEBHOOK_ALLOW_LIST allows it)`,
    );
    expect(of('loopbackName')[0]!.error).toMatch(
      /^DeniedAddressError: Requested URL "http:\/\/localhost:\d+\/hook" resolves to a denied IP address \(127\.0\.0\.1; loopback, refused unless PITWALL_WEBHOOK_ALLOW_LIST allows it\)$/,
    );
  });

  it('sends nothing: the receiver behind the host name got no request', () => {
    expect(received).toBe(0);
  });

  it('keeps no retry chain and records no credential of a URL, in the deliveries or the log', async () => {
    expect(await db('pitwall_webhook_chains').where({ race_event: eventId }).select('target_key')).toEqual([]);
    const recorded = JSON.stringify(await db('webhook_deliveries').select('error'));
    const log = await readFile(restartable!.stack.logFile, 'utf8').catch(() => '');
    for (const secret of [password, queryToken, apiKey]) {
      expect(recorded).not.toContain(secret);
      expect(log).not.toContain(secret);
    }
  });
});
