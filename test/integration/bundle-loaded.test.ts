import { describe, expect, inject, it } from 'vitest';
import { adminToken, call } from '../support/directus-client.ts';

const stack = inject('stack');

describe('the Pitwall bundle in Directus', () => {
  it('is reported loaded with one entry of each kind', async () => {
    const { status, json } = await call(stack, '/extensions', { token: await adminToken(stack) });
    expect(status).toBe(200);
    const loaded = (json.data as { schema: { name: string; type: string } | null; meta: { enabled: boolean } }[])
      .filter((e) => e.schema)
      .map((e) => ({ name: e.schema!.name, type: e.schema!.type, enabled: e.meta.enabled }));
    expect(loaded).toEqual(
      expect.arrayContaining([
        { name: 'pitwall-directus-bundle', type: 'bundle', enabled: true },
        { name: 'pitwall-hook', type: 'hook', enabled: true },
        { name: 'pitwall', type: 'endpoint', enabled: true },
        { name: 'pitwall-replay-operation', type: 'operation', enabled: true },
        { name: 'pitwall-backfill-operation', type: 'operation', enabled: true },
        { name: 'pitwall-signed-webhook-operation', type: 'operation', enabled: true },
        { name: 'pitwall-replay-panel', type: 'panel', enabled: true },
      ]),
    );
  });

  it('serves the pitwall endpoint health route, which sees the telemetry tables', async () => {
    const { status, json } = await call(stack, '/pitwall/health');
    expect(status).toBe(200);
    expect(json).toMatchObject({ status: 'ok', bundle: 'pitwall', telemetry: { postgis: true, positions: true, decoded_attributes: true } });
  });

  it('serves the app bundle with the panel and the operation for the admin app', async () => {
    const res = await fetch(`${stack.directusUrl}/extensions/sources/index.js`, { headers: { authorization: `Bearer ${await adminToken(stack)}` } });
    expect(res.status).toBe(200);
    const source = await res.text();
    for (const id of ['pitwall-replay', 'pitwall-backfill', 'pitwall-signed-webhook']) expect(source).toContain(id);
  });
});
