import { createServer, type IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { adminToken, call } from './directus-client.ts';
import type { TestStack } from './stack.ts';
import { waitFor } from './wait-for.ts';

/**
 * Creates an Event Hook Flow (action, items.create, race_events) with a Condition on the type and a Webhook
 * operation to a local receiver, stores a race event, and checks the receiver gets it. Deletes the Flow after,
 * because Directus 12 without a licence allows only five active Flows.
 */
export async function flowReceivesRaceEvents(stack: TestStack): Promise<void> {
  const received: { body: any; headers: IncomingMessage['headers'] }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ body: JSON.parse(body || 'null'), headers: req.headers });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const token = await adminToken(stack);
  const flow = await call(stack, '/flows', {
    token,
    body: {
      name: `Test: forward anomalies ${randomUUID().slice(0, 8)}`,
      icon: 'bolt',
      status: 'active',
      trigger: 'event',
      accountability: null,
      options: { type: 'action', scope: ['items.create'], collections: ['race_events'] },
    },
  });
  expect(flow.status).toBe(200);
  const flowId = flow.json.data.id;
  try {
    const webhook = await call(stack, '/operations', {
      token,
      body: {
        flow: flowId,
        name: 'Send to receiver',
        key: 'send',
        type: 'request',
        position_x: 40,
        position_y: 1,
        options: { method: 'POST', url: `http://127.0.0.1:${port}/hook`, body: '{{$trigger.payload}}' },
      },
    });
    expect(webhook.status).toBe(200);
    const condition = await call(stack, '/operations', {
      token,
      body: {
        flow: flowId,
        name: 'Only anomalies',
        key: 'only_anomalies',
        type: 'condition',
        position_x: 20,
        position_y: 1,
        resolve: webhook.json.data.id,
        options: { filter: { $trigger: { payload: { type: { _eq: 'anomaly.detected' } } } } },
      },
    });
    expect(condition.status).toBe(200);
    expect((await call(stack, `/flows/${flowId}`, { token, method: 'PATCH', body: { operation: condition.json.data.id } })).status).toBe(200);

    const store = (type: string) =>
      call(stack, '/items/race_events', {
        token,
        body: { id: randomUUID(), type, version: 1, occurred_at: new Date().toISOString(), source: 'live', device_id: '350936080010018', payload: { kind: 'signal_loss' } },
      });
    // Flows reload asynchronously after a save: keep storing events until the first one comes through.
    await waitFor(async () => {
      expect((await store('anomaly.detected')).status).toBe(200);
      return received.length > 0;
    }, { timeoutMs: 20_000, intervalMs: 500, what: 'the Flow to deliver a race event' });
    // The Condition keeps other types out of this Flow.
    expect((await store('timing.crossing.recorded')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1000));
    expect(received.map((r) => r.body.type)).not.toContain('timing.crossing.recorded');
    expect(received[0]!.body).toMatchObject({ type: 'anomaly.detected', source: 'live', payload: { kind: 'signal_loss' } });
  } finally {
    await call(stack, `/flows/${flowId}`, { token, method: 'DELETE' });
    server.close();
  }
}
