import type { Knex } from 'knex';
import { isUuid } from '../domain/uuid-text.ts';
import { devicesByImei, findDeviceModel } from '../store/backfill-source.ts';

const iso = (value: unknown) => (value === null || value === undefined ? undefined : new Date(value as string).toISOString());

/** Shaped as a zod issue, so callers report it with the schema's. */
export interface WindowIssue {
  code: 'custom';
  path: string[];
  message: string;
}

/**
 * A replay that names a stage (or only an event) and leaves out the time range covers that stage's window (or the
 * event's), and a stage implies its event: what a timekeeper means by "replay SS1". What is given is kept; anything
 * else is left to validation, except a stage or event that does not exist: that is the issue, not the range it
 * would have given ("from: expected a date" would send the caller looking in the wrong place).
 */
export async function withDefaultWindow(body: unknown, db: Knex): Promise<{ body: unknown; issues: WindowIssue[]; stageEvent?: string }> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { body, issues: [] };
  // One spelling of each id (the schema lowers them too): the stage's event, from Postgres, is in lower case.
  const input = { ...(body as Record<string, unknown>) };
  for (const field of ['stage', 'event']) if (isUuid(input[field])) input[field] = input[field].toLowerCase();
  const issues: WindowIssue[] = [];
  let window: { event?: string; from?: string; to?: string } = {};
  if (isUuid(input['stage'])) {
    const stage = await db('stages').where('id', input['stage']).first('event', 'opens_at', 'closes_at');
    if (stage) window = { event: String(stage.event), from: iso(stage.opens_at), to: iso(stage.closes_at) };
    else issues.push({ code: 'custom', path: ['stage'], message: `no stage ${input['stage']}` });
  }
  if (isUuid(input['event'])) {
    const event = await db('events').where('id', input['event']).first('starts_at', 'ends_at');
    if (!event) issues.push({ code: 'custom', path: ['event'], message: `no event ${input['event']}` });
    else if (!isUuid(input['stage'])) window = { from: iso(event.starts_at), to: iso(event.ends_at) };
    // The replay would find nothing to time and fail once it ran: said now, where the caller can correct it.
    else if (window.event !== undefined && window.event !== input['event']) {
      issues.push({ code: 'custom', path: ['stage'], message: `stage ${input['stage']} is a stage of another event than ${input['event']}` });
    }
  }
  const event = input['event'] ?? (input['entries'] === undefined && input['devices'] === undefined ? window.event : undefined);
  const windowed = { ...input, ...(event === undefined ? {} : { event }), from: input['from'] ?? window.from, to: input['to'] ?? window.to };
  return { body: windowed, issues, ...(window.event === undefined ? {} : { stageEvent: window.event }) };
}

/**
 * What to answer a replay request with: a stage or event that does not exist or is no id, and what else is wrong
 * with what the caller gave (a `from` that is no date, an unknown mode), so one answer names every mistake. Left out
 * are the schema's issues about what that stage or event would have given: the range, the event, and a scope of the
 * whole request (path []).
 */
export function replayRequestIssues<T extends { path: PropertyKey[] }>(windowIssues: WindowIssue[], schemaIssues: readonly T[], given: unknown): (WindowIssue | T)[] {
  const input = (typeof given === 'object' && given !== null ? given : {}) as Record<string, unknown>;
  const named = new Set<PropertyKey>(windowIssues.map((issue) => issue.path[0]!));
  // A stage or event given that is no id (the schema's issue) gives no range either.
  const malformed = schemaIssues.flatMap((issue) => (issue.path[0] === 'stage' || issue.path[0] === 'event') && input[issue.path[0]] !== undefined ? [issue.path[0]] : []);
  const unusable = new Set<PropertyKey>([...named, ...malformed]);
  if (unusable.size === 0) return [...schemaIssues];
  const derived = new Set<PropertyKey>(['from', 'to', ...(unusable.has('stage') ? ['event'] : [])]);
  const own = schemaIssues.filter((issue) => {
    const field = issue.path[0];
    if (field === undefined) return false;
    return !named.has(field) && !(derived.has(field) && input[field as string] === undefined);
  });
  return [...windowIssues, ...own];
}

/**
 * The devices a backfill names that do not exist: its model (an id or a name) or the IMEIs it lists. The run would
 * fail on them (backfillTargets); a request that names them gets a 400 naming the field instead of a run queued to
 * fail. Whether the model has an IO mapping is left to the run: mappings may be added before it starts.
 */
async function backfillTargetIssues(params: { model?: string; devices?: string[] }, db: Knex): Promise<WindowIssue[]> {
  if (params.model !== undefined) {
    return (await findDeviceModel(db, params.model)) ? [] : [{ code: 'custom', path: ['model'], message: `no device model ${JSON.stringify(params.model)} (give a device_models id or name)` }];
  }
  const imeis = [...new Set(params.devices ?? [])];
  const known = new Set((await devicesByImei(db, imeis)).map((device) => device.imei));
  return (params.devices ?? []).flatMap((imei, i) => (known.has(imei) ? [] : [{ code: 'custom' as const, path: ['devices', String(i)], message: `no device with IMEI ${JSON.stringify(imei)}` }]));
}

type ReplayTargets = { event?: string; entries?: string[]; devices?: string[]; geofences?: { id?: string; stage?: string | null }[] };

/**
 * The entries, trackers and candidate lines' stages a replay names that do not exist, and entries (or stages) of
 * another event than the one it names (or its stage's, `stageEvent`, as withDefaultWindow read it). The run would replay nothing for them, or fail with
 * "not a stage of the replayed event(s)", which sends the caller looking at the stage: a 400 naming `entries.<n>` /
 * `devices.<n>` says what is wrong. A tracker that exists but is carried by no entry replayed stays a problem the run
 * reports (its entry may be given one before the run starts).
 */
async function replayTargetIssues({ event, entries, devices, geofences }: ReplayTargets, stageEvent: string | undefined, db: Knex): Promise<WindowIssue[]> {
  const issues: WindowIssue[] = [];
  // A candidate line of a stage that does not exist, or of another event: the run would fail once it ran.
  const lineStages = [...new Set((geofences ?? []).flatMap((g) => (typeof g.stage === 'string' ? [g.stage] : [])))];
  if (lineStages.length > 0) {
    const scope = event ?? stageEvent;
    const eventOfStage = new Map<string, string>((await db('stages').whereIn('id', lineStages).select('id', 'event')).map((row: { id: string; event: string }) => [row.id, String(row.event)]));
    (geofences ?? []).forEach(({ stage }, i) => {
      if (typeof stage !== 'string') return;
      const of = eventOfStage.get(stage);
      if (of === undefined) issues.push({ code: 'custom', path: ['geofences', String(i), 'stage'], message: `no stage ${stage}` });
      else if (scope !== undefined && of !== scope) issues.push({ code: 'custom', path: ['geofences', String(i), 'stage'], message: `stage ${stage} is a stage of another event than ${scope}` });
    });
  }
  // A row standing for a stored line of another stage, or two rows for one line: the layout would hold that line
  // twice, and the run failed with "duplicate gate id" once it ran.
  const lineIds = [...new Set((geofences ?? []).flatMap((g) => (typeof g.id === 'string' ? [g.id] : [])))];
  if (lineIds.length > 0) {
    const stageOfLine = new Map<string, string>((await db('geofences').whereIn('id', lineIds).select('id', 'stage')).map((row: { id: string; stage: string }) => [row.id, String(row.stage)]));
    const seen = new Set<string>();
    (geofences ?? []).forEach(({ id, stage }, i) => {
      if (typeof id !== 'string') return;
      const of = stageOfLine.get(id);
      if (seen.has(id)) issues.push({ code: 'custom', path: ['geofences', String(i), 'id'], message: `geofence ${id} is named by an earlier row of the layout` });
      else if (of !== undefined && typeof stage === 'string' && of !== stage) issues.push({ code: 'custom', path: ['geofences', String(i), 'id'], message: `geofence ${id} is a line of stage ${of}, not of stage ${stage}` });
      seen.add(id);
    });
  }
  if (entries) {
    const scope = event ?? stageEvent;
    const eventOf = new Map<string, string>((await db('entries').whereIn('id', [...new Set(entries)]).select('id', 'event')).map((row: { id: string; event: string }) => [row.id, String(row.event)]));
    entries.forEach((id, i) => {
      const of = eventOf.get(id);
      if (of === undefined) issues.push({ code: 'custom', path: ['entries', String(i)], message: `no entry ${id}` });
      else if (scope !== undefined && of !== scope) issues.push({ code: 'custom', path: ['entries', String(i)], message: `entry ${id} is an entry of another event than ${scope}` });
    });
  }
  if (devices) {
    const known = new Set((await devicesByImei(db, [...new Set(devices)])).map((device) => device.imei));
    devices.forEach((imei, i) => {
      if (!known.has(imei)) issues.push({ code: 'custom', path: ['devices', String(i)], message: `no device with IMEI ${JSON.stringify(imei)}` });
    });
  }
  return issues;
}

/** What checkJobRequest needs of a params schema (a zod schema): its own issues carry a path. */
interface ParamsSchema<T, I extends { path: PropertyKey[] }> {
  safeParse(input: unknown): { success: true; data: T } | { success: false; error: { issues: I[] } };
}

/**
 * A replay or backfill request as the endpoint, the Flow operations and `pitwall replay|backfill` check it: a replay
 * gets its stage's (or event's) window where it gives no range (withDefaultWindow), then the schema decides; the
 * issues are those of replayRequestIssues, one answer naming every mistake.
 */
export async function checkJobRequest<T, I extends { path: PropertyKey[] }>(
  kind: 'replay' | 'backfill',
  body: unknown,
  db: Knex,
  schema: ParamsSchema<T, I>,
): Promise<{ params: T; issues: null } | { params: null; issues: (WindowIssue | I)[] }> {
  const windowed: { body: unknown; issues: WindowIssue[]; stageEvent?: string } = kind === 'replay' ? await withDefaultWindow(body, db) : { body, issues: [] };
  const parsed = schema.safeParse(windowed.body);
  if (parsed.success && kind === 'backfill') windowed.issues.push(...(await backfillTargetIssues(parsed.data as { model?: string; devices?: string[] }, db)));
  if (parsed.success && kind === 'replay' && windowed.issues.length === 0) windowed.issues.push(...(await replayTargetIssues(parsed.data as ReplayTargets, windowed.stageEvent, db)));
  if (parsed.success && windowed.issues.length === 0) return { params: parsed.data, issues: null };
  return { params: null, issues: firstIssues(replayRequestIssues(windowed.issues, parsed.success ? [] : parsed.error.issues, body)) };
}

/** Issues named in one answer: 10,000 unknown ids in a list made a 2 MB answer, each id in it three times. */
const MAX_ISSUES = 20;

function firstIssues<T>(issues: T[]): (T | WindowIssue)[] {
  if (issues.length <= MAX_ISSUES) return issues;
  return [...issues.slice(0, MAX_ISSUES), { code: 'custom', path: [], message: `and ${(issues.length - MAX_ISSUES).toLocaleString('en')} more issues like these` }];
}
