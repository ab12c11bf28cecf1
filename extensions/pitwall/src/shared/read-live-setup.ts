import { ClassificationNotFoundError, type ClassificationReader } from './read-classification.ts';
import { courseFromItems, type LiveSetup, type LiveTracker, type StageResultState } from './live-setup.ts';

type Row = Record<string, unknown>;

const iso = (value: unknown): string | null => (value === null || value === undefined || value === '' ? null : new Date(String(value)).toISOString());
const numberOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

/** The event as the caller may read it, or the same 404 the classification answers. */
export async function readEvent(eventId: string, { services, schema, accountability }: ClassificationReader): Promise<Row> {
  const events = new services.ItemsService('events', { schema, accountability });
  const [event] = await events.readByQuery({ fields: ['id', 'name'], filter: { id: { _eq: eventId } }, limit: 1 });
  if (!event) throw new ClassificationNotFoundError({ collection: 'events', id: eventId });
  return event;
}

/**
 * What the live map draws besides the cars, read as the caller (Directus answers 403 for a collection the caller may
 * not read): the event's stages, its course (gates, zones, waypoints) and its trackers with their entries.
 */
export async function readLiveSetup(eventId: string, reader: ClassificationReader): Promise<LiveSetup> {
  const event = await readEvent(eventId, reader);
  const items = (collection: string) => new reader.services.ItemsService(collection, { schema: reader.schema, accountability: reader.accountability });
  const [stages, geofences, waypoints, trackers] = await Promise.all([
    items('stages').readByQuery({ fields: ['id', 'name', 'sort_order'], filter: { event: { _eq: eventId } }, sort: ['sort_order', 'opens_at', 'id'], limit: -1 }),
    items('geofences').readByQuery({
      fields: ['id', 'stage', 'name', 'kind', 'geometry', 'speed_limit_kmh', 'sort_order', 'direction_deg'], filter: { event: { _eq: eventId } }, limit: -1,
    }),
    items('waypoints').readByQuery({
      fields: ['id', 'stage', 'name', 'location', 'tolerance_meters', 'sort_order', 'penalty_ms'], filter: { stage: { event: { _eq: eventId } } }, sort: ['sort_order'], limit: -1,
    }),
    items('entry_devices').readByQuery({
      fields: ['entry.id', 'entry.race_number', 'entry.name', 'device.imei', 'role', 'valid_from', 'valid_to'], filter: { entry: { event: { _eq: eventId } } }, limit: -1,
    }),
  ]);
  const { course, problems } = courseFromItems(eventId, geofences, waypoints);
  return {
    event: { id: String(event['id']), name: (event['name'] as string | null) ?? null },
    stages: stages.map((s) => ({ id: String(s['id']), name: String(s['name'] ?? ''), sort_order: numberOrNull(s['sort_order']) })),
    course,
    trackers: trackers.flatMap((t): LiveTracker[] => {
      const entry = t['entry'] as Row | null;
      const device = t['device'] as Row | null;
      // A tracker the caller may not read, or a row without its entry, puts no car on the map.
      if (!entry?.['id'] || !device?.['imei']) return [];
      return [{
        device_id: String(device['imei']),
        entry: String(entry['id']),
        race_number: numberOrNull(entry['race_number']),
        name: (entry['name'] as string | null) ?? null,
        role: t['role'] === 'backup' ? 'backup' : 'primary',
        valid_from: iso(t['valid_from']),
        valid_to: iso(t['valid_to']),
      }];
    }),
    problems,
  };
}

/** The stored stage results of the event's entries, for the state of a car the timekeeper clicks. */
export async function readStageStates(eventId: string, reader: ClassificationReader): Promise<StageResultState[]> {
  await readEvent(eventId, reader);
  const results = new reader.services.ItemsService('stage_results', { schema: reader.schema, accountability: reader.accountability });
  const rows = await results.readByQuery({
    fields: ['entry', 'stage', 'status', 'started_at', 'finished_at', 'elapsed_ms', 'total_ms'], filter: { stage: { event: { _eq: eventId } } }, limit: -1,
  });
  return rows.map((r) => ({
    entry: String(r['entry']),
    stage: String(r['stage']),
    status: r['status'] as StageResultState['status'],
    started_at: iso(r['started_at']),
    finished_at: iso(r['finished_at']),
    elapsed_ms: numberOrNull(r['elapsed_ms']),
    total_ms: numberOrNull(r['total_ms']),
  }));
}
