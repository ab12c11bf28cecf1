import { createPreset, readPresets } from '@directus/sdk';
import type { AdminClient } from './directus-admin.ts';

/**
 * What a timekeeper reads when opening a timing collection (or the entries): Directus's collection default, a
 * `directus_presets` row without user, role or bookmark (the app falls back to it for everyone who has not set a layout
 * of their own, and every app user may read it). Tabular layout, the columns that matter, sorted as read on race day.
 */
export interface CollectionLayout {
  collection: string;
  fields: string[];
  sort: string[];
  /** Column widths in pixels (Directus's default is 160). */
  widths: Record<string, number>;
  limit: number;
}

export const collectionLayouts: CollectionLayout[] = [
  {
    // By race number, as the entry list is printed; the app's entry pickers (a penalty's, a crossing's) open this
    // layout too, which listed entries in the order they were created.
    collection: 'entries',
    fields: ['race_number', 'name', 'category', 'event'],
    sort: ['race_number'],
    widths: { race_number: 100, name: 280, category: 120, event: 260 },
    limit: 100,
  },
  {
    // By rank (Postgres puts the unranked, running and DNF entries, after the ranked ones).
    collection: 'stage_results',
    fields: ['rank', 'entry', 'stage', 'status', 'total_ms', 'gap_ms'],
    sort: ['rank'],
    widths: { rank: 100, entry: 260, stage: 180, status: 110, total_ms: 130, gap_ms: 130 },
    limit: 100,
  },
  {
    // By race number, each entry's penalties together, why they were given, and whether the officials waived them and why.
    collection: 'entry_penalties',
    fields: ['entry', 'stage', 'kind', 'amount_ms', 'reason', 'waived', 'waived_reason'],
    sort: ['entry.race_number', 'stage.sort_order'],
    widths: { entry: 260, stage: 200, kind: 150, amount_ms: 120, reason: 240, waived: 100, waived_reason: 240 },
    limit: 100,
  },
  {
    // Newest first: the crossing that just happened is the one a timekeeper checks.
    collection: 'entry_crossings',
    fields: ['entry', 'geofence', 'kind', 'crossed_at', 'corrected_at', 'device_id'],
    sort: ['-crossed_at'],
    widths: { entry: 260, geofence: 200, kind: 100, crossed_at: 150, corrected_at: 170, device_id: 170 },
    limit: 100,
  },
];

/** The body of `POST /presets` for a collection default. */
export function layoutPreset(layout: CollectionLayout): Record<string, unknown> {
  return {
    collection: layout.collection,
    bookmark: null,
    user: null,
    role: null,
    layout: 'tabular',
    layout_query: { tabular: { fields: layout.fields, sort: layout.sort, limit: layout.limit } },
    layout_options: { tabular: { widths: layout.widths, spacing: 'cozy' } },
  };
}

/**
 * Creates the collection default of each timing collection that has none. One that exists (Pitwall's, or an admin's)
 * is never changed, so an admin's choice of columns survives every setup.
 */
export async function ensureCollectionLayouts(client: AdminClient): Promise<string[]> {
  const done: string[] = [];
  for (const layout of collectionLayouts) {
    const existing = await client.request(
      readPresets({
        filter: { collection: { _eq: layout.collection }, user: { _null: true }, role: { _null: true }, bookmark: { _null: true } },
        fields: ['id'],
        limit: 1,
      } as never),
    );
    if ((existing as unknown[]).length > 0) continue;
    await client.request(createPreset(layoutPreset(layout) as never));
    done.push(`lay out ${layout.collection} for timekeepers`);
  }
  return done;
}
