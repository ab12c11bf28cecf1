import type { Knex } from 'knex';
import type { Course } from '../../domain/course.ts';
import { sharedEntries, type EntryTracker } from '../../domain/pipeline/entry-timings.ts';
import type { PipelineContext, PipelineOptions } from '../../domain/pipeline/pipeline-context.ts';
import { pipelineContexts } from '../../domain/pipeline/pipeline-contexts.ts';
import { loadRaceSetup } from '../../store/race-setup.ts';
import { applyCandidateLayout } from './candidate-layout.ts';
import type { ReplayParams } from './replay-params.ts';

export class ReplayScopeError extends Error {
  override name = 'ReplayScopeError';
}

/**
 * What one replay covers. The pipeline runs every chosen tracker over the whole range; only facts inside the scope
 * (these entries, stages, trackers and times) are compared with what is stored and applied.
 */
export interface ReplayScope {
  from: number;
  to: number;
  course: Course;
  /** Tracker IMEIs to replay, sorted, each with its pipeline context. */
  devices: string[];
  contexts: Map<string, PipelineContext>;
  /** Entries carried by several trackers, timed from all of them (sharedEntries). */
  shared: Map<string, EntryTracker[]>;
  entries: Set<string>;
  stages: Set<string>;
  /** The `stage` parameter: without it, event-wide anomalies (no stage) are in scope too. */
  stage: string | null;
  raceNumbers: Map<string, number | null>;
  stageNames: Map<string, string>;
  geofenceNames: Map<string, string>;
  /** Setup problems and requested entries or trackers that cannot be replayed; reported in the summary. */
  problems: string[];
}

/**
 * Loads the race setup of the replayed event (or of the events overlapping the range), puts a candidate layout in
 * place, and resolves entries to trackers through entry_devices. Contexts are built as the live processor builds
 * them (src/processor/racing.ts), with the given pipeline options.
 */
export async function resolveReplayScope(db: Knex, params: ReplayParams, options: PipelineOptions): Promise<ReplayScope> {
  const from = Date.parse(params.from);
  const to = Date.parse(params.to);
  const setup = await loadRaceSetup(db, { from, to, ...(params.event ? { eventId: params.event } : {}) });
  const problems = [...setup.problems];
  const course = params.geofences ? applyCandidateLayout(setup.course, params.geofences, { requireStoredLines: params.mode === 'apply' }) : setup.course;
  // Each tracker sees only its own entries' events, as live; the context keeps every assignment of the tracker, so
  // entryAt decides as live; the scope keeps the chosen ones.
  const allContexts = pipelineContexts({ ...setup, course }, options);
  const shared = sharedEntries(setup.assignments);

  const wantedEntries = params.entries ? new Set(params.entries) : null;
  const wantedDevices = params.devices ? new Set(params.devices) : null;
  const contexts = new Map<string, PipelineContext>();
  const entries = new Set<string>();
  const events = new Set<string>();
  for (const [deviceId, assignments] of setup.assignments) {
    if (wantedDevices && !wantedDevices.has(deviceId)) continue;
    const chosen = assignments.filter((a) => !wantedEntries || wantedEntries.has(a.entryId));
    if (chosen.length === 0) continue;
    contexts.set(deviceId, allContexts.get(deviceId)!);
    for (const a of chosen) {
      entries.add(a.entryId);
      events.add(a.eventId);
    }
  }
  // An entry with several trackers is timed from all of them, as live, whichever of them was asked for.
  for (const entryId of entries) {
    for (const { deviceId } of shared.get(entryId) ?? []) if (!contexts.has(deviceId)) contexts.set(deviceId, allContexts.get(deviceId)!);
  }
  if (params.event) events.add(params.event);
  for (const entry of wantedEntries ?? []) if (!entries.has(entry)) problems.push(`entry ${entry} has no tracker in the replayed event(s): nothing to replay for it`);
  for (const device of wantedDevices ?? []) if (!contexts.has(device)) problems.push(`tracker ${device} is carried by no chosen entry of the replayed event(s): not replayed`);

  const eventStages = course.stages.filter((s) => events.has(s.eventId));
  if (params.stage && !eventStages.some((s) => s.id === params.stage)) {
    throw new ReplayScopeError(`stage ${params.stage} is not a stage of the replayed event(s)`);
  }
  const stages = new Set(params.stage ? [params.stage] : eventStages.map((s) => s.id));

  const entryRows: { id: string; race_number: number | string | null }[] = entries.size > 0 ? await db('entries').select('id', 'race_number').whereIn('id', [...entries]) : [];
  const storedGeofences: { id: string; name: string }[] = stages.size > 0 ? await db('geofences').select('id', 'name').whereIn('stage', [...stages]) : [];
  const geofenceNames = new Map(storedGeofences.map((g) => [g.id, g.name]));
  for (const g of [...course.gates, ...course.zones]) geofenceNames.set(g.id, g.name);

  return {
    from,
    to,
    course,
    devices: [...contexts.keys()].sort(),
    contexts,
    shared,
    entries,
    stages,
    stage: params.stage ?? null,
    raceNumbers: new Map(entryRows.map((e) => [e.id, e.race_number === null ? null : Number(e.race_number)])),
    stageNames: new Map(course.stages.map((s) => [s.id, s.name])),
    geofenceNames,
    problems,
  };
}
