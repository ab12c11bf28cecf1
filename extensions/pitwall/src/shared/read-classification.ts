import { createError } from '@directus/errors';
import type { Accountability, ApiExtensionContext, SchemaOverview } from '@directus/types';
import { overallClassification, stageClassification, type Classification } from './classification.ts';

/** The event, or the stage within it, is not there for this caller (missing, or outside what Directus lets it read). */
export const ClassificationNotFoundError = createError<{ collection: string; id: string }>(
  'PITWALL_NOT_FOUND',
  ({ collection, id }) => `No ${collection === 'events' ? 'event' : 'stage of this event'} with id ${id} is readable.`,
  404,
);

export interface ClassificationQuery {
  event: string;
  /** Absent: the event's overall classification. */
  stage?: string | undefined;
}

export interface ClassificationReader {
  services: ApiExtensionContext['services'];
  schema: SchemaOverview;
  accountability: Accountability | null;
}

const resultFields = ['entry', 'stage', 'status', 'started_at', 'finished_at', 'elapsed_ms', 'penalty_ms', 'total_ms'];

/**
 * Reads an event's stages, entries and stored results as the caller (Directus answers 403 for a collection the
 * caller may not read) and classifies them: one stage when the query names it, else the overall classification.
 */
export async function readClassification(query: ClassificationQuery, { services, schema, accountability }: ClassificationReader, now: () => Date = () => new Date()): Promise<Classification> {
  const items = (collection: string) => new services.ItemsService(collection, { schema, accountability });
  const [event] = await items('events').readByQuery({ fields: ['id', 'name'], filter: { id: { _eq: query.event } }, limit: 1 });
  if (!event) throw new ClassificationNotFoundError({ collection: 'events', id: query.event });
  const stages = await items('stages').readByQuery({
    fields: ['id', 'name', 'sort_order', 'opens_at', 'closes_at'], filter: { event: { _eq: query.event } }, sort: ['sort_order', 'opens_at', 'id'], limit: -1,
  });
  const stage = query.stage === undefined ? null : stages.find((s) => s['id'] === query.stage);
  if (stage === undefined) throw new ClassificationNotFoundError({ collection: 'stages', id: query.stage! });
  const entries = await items('entries').readByQuery({ fields: ['id', 'race_number', 'name', 'category'], filter: { event: { _eq: query.event } }, limit: -1 });
  const stageIds = stage ? [String(stage['id'])] : stages.map((s) => String(s['id']));
  const results = stageIds.length === 0 ? [] : await items('stage_results').readByQuery({ fields: resultFields, filter: { stage: { _in: stageIds } }, limit: -1 });
  return stage ? stageClassification(event, stage, entries, results, now()) : overallClassification(event, stages, entries, results, now());
}
