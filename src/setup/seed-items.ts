import { createItems, readItems } from '@directus/sdk';
import type { AdminClient } from './directus-admin.ts';

/**
 * Creates the items whose ids are not there yet, collection by collection in the given order. Items that exist are
 * never touched, so a timekeeper's edits to the demo race survive another setup.
 */
export async function seedItems(client: AdminClient, items: Record<string, Record<string, unknown>[]>): Promise<string[]> {
  const done: string[] = [];
  for (const [collection, rows] of Object.entries(items)) {
    const ids = rows.map((r) => r.id as string);
    const existing = await client.request(readItems(collection as never, { filter: { id: { _in: ids } }, fields: ['id'], limit: -1 } as never));
    const have = new Set((existing as { id: string }[]).map((r) => r.id));
    const missing = rows.filter((r) => !have.has(r.id as string));
    if (missing.length === 0) continue;
    await client.request(createItems(collection as never, missing as never));
    done.push(`seed ${missing.length} ${collection}`);
  }
  return done;
}
