import { createCollection, createField, createItem, deleteCollection, deleteField, readCollection, readItem, updateCollection, updateItem } from '@directus/sdk';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries } from '../../src/demo/demo-race.ts';
import { pitwallCollections } from '../../src/setup/pitwall-schema.ts';
import { admin, adminToken, call } from '../support/directus-client.ts';
import { runCli } from '../support/cli.ts';

const stack = inject('stack');

const setupEnv = () => ({
  DATABASE_URL: stack.databaseUrl,
  DIRECTUS_URL: stack.directusUrl,
  DIRECTUS_ADMIN_EMAIL: stack.adminEmail,
  DIRECTUS_ADMIN_PASSWORD: stack.adminPassword,
  PITWALL_PROCESSOR_EMAIL: stack.processorEmail,
  PITWALL_PROCESSOR_TOKEN: stack.processorToken,
  PITWALL_DB_ROLE: stack.processorDatabaseRole.name,
  PITWALL_DB_PASSWORD: stack.processorDatabaseRole.password,
});

async function rowCounts(): Promise<Record<string, number>> {
  const token = await adminToken(stack);
  const counts: Record<string, number> = {};
  for (const { collection, folder } of pitwallCollections) {
    if (folder) continue;
    const { json } = await call(stack, `/items/${collection}?aggregate[count]=*`, { token });
    counts[collection] = Number(json.data[0].count);
  }
  return counts;
}

describe('pitwall setup run again', () => {
  beforeAll(async () => {
    const client = await admin(stack);
    // What an admin might do between two deploys: add a field, a collection of their own, edit the demo race
    // and restyle a Pitwall collection.
    await client.request(createField('events', { field: 'sponsor', type: 'string', meta: { interface: 'input' }, schema: {} } as never));
    await client.request(createCollection({ collection: 'admin_notes', meta: { icon: 'note' }, schema: {}, fields: [{ field: 'id', type: 'integer', meta: { hidden: true }, schema: { is_primary_key: true, has_auto_increment: true } }] } as never));
    await client.request(createField('admin_notes', { field: 'body', type: 'text', meta: { interface: 'input-multiline' }, schema: {} } as never));
    await client.request(createItem('admin_notes', { body: 'call the marshal at WP2' } as never));
    await client.request(updateItem('entries', demoEntries[0]!.id, { name: 'Renamed by a timekeeper' } as never));
    await client.request(updateCollection('events', { meta: { display_template: '{{name}} ({{slug}})' } } as never));
  });

  // Other test files share this Directus: put back what this one changed.
  afterAll(async () => {
    const client = await admin(stack);
    await client.request(updateItem('entries', demoEntries[0]!.id, { name: demoEntries[0]!.name } as never));
    await client.request(updateCollection('events', { meta: { display_template: '{{name}}' } } as never));
    await client.request(deleteField('events', 'sponsor'));
    await client.request(deleteCollection('admin_notes'));
  });

  it('changes nothing and loses nothing the admin added', async () => {
    const before = await rowCounts();
    const result = await runCli(['setup', '--demo'], setupEnv());
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('nothing to do');
    expect(await rowCounts()).toEqual(before);

    const client = await admin(stack);
    const token = await adminToken(stack);
    const fields = (await call(stack, '/fields/events', { token })).json.data.map((f: { field: string }) => f.field);
    expect(fields).toContain('sponsor');
    const notes = (await call(stack, '/items/admin_notes', { token })).json.data;
    expect(notes).toEqual([{ id: 1, body: 'call the marshal at WP2' }]);
    expect(await client.request(readItem('entries', demoEntries[0]!.id, { fields: ['name'] } as never))).toEqual({ name: 'Renamed by a timekeeper' });
    expect(((await client.request(readCollection('events'))) as { meta: { display_template: string } }).meta.display_template).toBe('{{name}} ({{slug}})');
  });

  it('puts back a Pitwall field an admin deleted, and only that', async () => {
    const client = await admin(stack);
    await client.request(deleteField('anomalies', 'ended_at'));
    const result = await runCli(['setup'], setupEnv());
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('add field anomalies.ended_at');
    expect(result.stdout).toContain('setup: 1 changes');
  });

  it('stops with a message naming a missing variable', async () => {
    const { DATABASE_URL: _dropped, ...env } = setupEnv();
    const result = await runCli(['setup'], env);
    expect(result.code).toBe(78);
    expect(result.stderr).toMatch(/invalid configuration: DATABASE_URL: is required/);
  });
});
