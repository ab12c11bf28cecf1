import type { Accountability } from '@directus/types';
import { handPenaltiesDeleteProblem, handPenaltyDeleteProblem, handPenaltyProblem, PENALTY_COLUMN, type PenaltyWrite } from '../../../../src/domain/penalties/hand-penalty-problem.ts';
import { correctedAheadProblem, futureCrossingProblem, handCrossingPlaceProblem, handCrossingProblem, handCrossingTracker, type EntryTracker, type HandCrossingProblem } from '../../../../src/domain/timing/hand-crossing-problem.ts';
import { crossingKind } from '../../../../src/domain/pipeline/facts.ts';
import { MAX_RESULT_MS } from '../../../../src/domain/pipeline/stage-result.ts';
import { defaultPipelineOptions } from '../../../../src/domain/pipeline/pipeline-context.ts';
import { isUuid } from '../../../../src/domain/uuid-text.ts';
import { DEFAULT_MAX_FUTURE_SKEW_MS } from '../../../../src/domain/read-well-formed-entry.ts';
import { beforeYearOne, directusTimestampMs, timestampValueMs } from './directus-timestamp.ts';
import { refuse, writePermission, type Problem } from './write-guard.ts';

/** The kinds of crossing the timing makes and reads (a start, split or finish line's). */
const CROSSING_KINDS: readonly string[] = [...new Set(Object.values(crossingKind))];
/** Where a crossing comes from (CONTRACTS: `live` | `replay`); one made by hand is marked by `corrected_at`. */
const CROSSING_SOURCES: readonly string[] = ['live', 'replay'];
/** The geofence kind each crossing kind is made on (crossingKind, the other way round). */
const LINE_OF: Record<string, string> = Object.fromEntries(Object.entries(crossingKind).map(([line, kind]) => [kind, line]));

type Row = Record<string, unknown>;

/** A row or payload of `entry_penalties` as handPenaltyProblem reads it: its fields by their columns. */
const penaltyFields = (row: Row): Required<PenaltyWrite> =>
  Object.fromEntries(Object.entries(PENALTY_COLUMN).map(([field, column]) => [field, row[column]])) as Required<PenaltyWrite>;

/**
 * Penalties written by people (the app, REST, a CSV import) are checked where they are written, with a 400 naming the
 * field (handPenaltyProblem): Directus stores any text in the kind's dropdown, and answers an amount that is no number
 * with a 500. The pipeline's own penalties go through the facts route, which emits no filter. An update is checked
 * against each row it changes (`stored`, as stored; null for a create). A caller who may not write is left to
 * Directus's 403 (see writePermission).
 */
export function penaltyGuard(database: any) {
  const mayWrite = writePermission(database);
  return async (payload: Row, stored: Row[] | null, accountability: Accountability | null | undefined): Promise<Row> => {
    if (!(await mayWrite('entry_penalties', stored === null ? 'create' : 'update', accountability))) return payload;
    const write = penaltyFields(payload);
    const rows = stored === null ? [null] : stored.map((row) => ({ ...penaltyFields(row), kind: String(row['kind']) }));
    for (const row of rows) {
      const problem = handPenaltyProblem(write, row);
      if (problem) refuse([{ field: PENALTY_COLUMN[problem.field], message: problem.message }]);
    }
    if (payload['entry'] !== undefined || payload['stage'] !== undefined) {
      for (const row of stored ?? [null]) {
        const message = await entryOfOtherEvent(database, { ...(row ?? {}), ...payload });
        if (message) refuse([{ field: payload['entry'] !== undefined ? 'entry' : 'stage', message }]);
      }
    }
    if (stored === null) {
      const message = await twinPenalty(database, payload);
      if (message) refuse([{ field: 'reason', message }]);
    }
    for (const row of stored ?? [null]) {
      const message = await overflow(database, { ...(row ?? {}), ...payload }, row?.['id']);
      // A waiver lifted is what takes the total past: named as such.
      if (message) refuse([{ field: 'amount_ms' in payload || !('waived' in payload) ? 'amount_ms' : 'waived', message }]);
    }
    return payload;
  };
}

/**
 * Why an entry cannot have a crossing or penalty in a stage, or null: it is an entry of another event than the stage's.
 * Stored, it was ranked in the stage's results beside the stage's own entries (first, in a tester's race) and
 * announced to integrators. What is no id, or no row, is left to Directus and the column guard.
 */
async function entryOfOtherEvent(database: any, row: Row): Promise<string | null> {
  const { entry, stage } = row;
  if (!isUuid(entry) || !isUuid(stage)) return null;
  const [own, of] = await Promise.all([database('entries').where({ id: entry }).first('event', 'race_number'), database('stages').where({ id: stage }).first('event', 'name')]);
  if (!own || !of || own.event === of.event) return null;
  return `entry ${own.race_number === null ? String(entry) : `#${own.race_number}`} is an entry of another event than stage "${of.name}"`;
}

/**
 * Why a new penalty given by hand is refused as a second copy, or null: the entry already has one in the stage of the
 * same kind, amount and reason that counts. A double click, or a CSV file imported twice, doubled a car's penalty
 * without a word; a second penalty given on purpose has its own reason (the stewards' decision number).
 */
async function twinPenalty(database: any, penalty: Row): Promise<string | null> {
  const { entry, stage, kind } = penalty;
  const amount = Number(penalty['amount_ms']);
  if (!isUuid(entry) || !isUuid(stage) || typeof kind !== 'string' || !Number.isFinite(amount)) return null;
  const reason = typeof penalty['reason'] === 'string' && penalty['reason'].trim() !== '' ? penalty['reason'] : null;
  const twin: Row | undefined = await database('entry_penalties')
    .where({ entry, stage, kind, amount_ms: amount })
    .whereRaw('waived IS NOT TRUE')
    .modify((q: any) => (reason === null ? q.where((r: any) => r.whereNull('reason').orWhere('reason', '')) : q.where('reason', reason)))
    .first('id');
  if (!twin) return null;
  return `the entry already has this ${kind} penalty in the stage, with the same amount and ${reason === null ? 'no reason' : 'reason'} (${String(twin['id'])}): a second one given on purpose needs its own reason, such as the stewards' decision number`;
}

/**
 * Whether the penalty, as written, would take its result's total past what the result's columns hold: the re-timing
 * of the entry would then fail on every try, and with it every fact batch that touches the entry (the pipeline's
 * whole timing stopped behind one typo). Counted with the entry's other penalties in the stage that count and its
 * stage time as stored.
 */
async function overflow(database: any, penalty: Row, id: unknown): Promise<string | null> {
  const { entry, stage } = penalty;
  const amount = Number(penalty['amount_ms']);
  // Ids that are no uuids are the column guard's to name (a query with them is Postgres's 500).
  if (!isUuid(entry) || !isUuid(stage) || !Number.isFinite(amount) || [true, 'true'].includes(penalty['waived'] as never)) return null;
  const [others, result] = await Promise.all([
    database('entry_penalties')
      .where({ entry, stage })
      .whereRaw('waived IS NOT TRUE')
      .modify((q: any) => (id ? q.whereNot('id', id) : q))
      .sum({ ms: 'amount_ms' })
      .first(),
    database('stage_results').where({ entry, stage }).first('elapsed_ms'),
  ]);
  const total = Number(others?.ms ?? 0) + amount + Number(result?.elapsed_ms ?? 0);
  if (total <= MAX_RESULT_MS) return null;
  return `with this penalty the entry's stage total would be ${total} ms, more than a result holds (${MAX_RESULT_MS} ms, 596:31:23.647): lower it, or waive another penalty`;
}

/**
 * Rows of entry_penalties or entry_crossings named as the app lists them, "#113 speeding in SS2" (race number, kind,
 * stage), by id: a refused bulk delete must say which rows to leave out.
 */
async function timingRowLabels(database: any, table: 'entry_penalties' | 'entry_crossings', ids: unknown[]): Promise<Map<string, string>> {
  const rows: Row[] = await database(`${table} as t`)
    .leftJoin('entries as e', 'e.id', 't.entry')
    .leftJoin('stages as s', 's.id', 't.stage')
    .whereIn('t.id', ids)
    .select('t.id', 't.kind', 'e.race_number', 's.name');
  return new Map(rows.map((row) => [String(row['id']), `#${String(row['race_number'] ?? '?')} ${String(row['kind'])} in ${String(row['name'] ?? '?')}`]));
}

/**
 * A penalty deleted by people is checked against each row the delete removes (handPenaltyDeleteProblem): a computed
 * one would come back with the pipeline's next timing of the entry, so it is waived instead. A caller who may not
 * delete is left to Directus's 403.
 */
export function penaltyDeleteGuard(database: any) {
  const mayWrite = writePermission(database);
  return async (stored: Row[], accountability: Accountability | null | undefined): Promise<void> => {
    if (stored.length === 0 || !(await mayWrite('entry_penalties', 'delete', accountability))) return;
    if (!stored.some((row) => handPenaltyDeleteProblem({ kind: String(row['kind']) }))) return;
    const labels = await timingRowLabels(database, 'entry_penalties', stored.map((row) => row['id']));
    const problem = handPenaltiesDeleteProblem(
      stored.map((row) => ({ kind: String(row['kind']), label: labels.get(String(row['id'])) ?? `#? ${String(row['kind'])} in ?` })),
    );
    if (problem) refuse([{ field: PENALTY_COLUMN[problem.field], message: problem.message }]);
  };
}

/**
 * A crossing deleted by someone other than an admin: only those set by hand (`corrected_at`). The Race Control role
 * may delete crossings so that a steward can take back a stopwatch time typed on the wrong car, or a second start the
 * refusal of `kind` tells them to delete first; a tracker's crossing is the pipeline's, which writes it again when it
 * next times the car, and is corrected instead (it is then kept as set). Admins delete what they like.
 */
export function crossingDeleteGuard(database: any) {
  const mayWrite = writePermission(database);
  return async (stored: Row[], accountability: Accountability | null | undefined): Promise<void> => {
    if (stored.length === 0 || !accountability || accountability.admin || !(await mayWrite('entry_crossings', 'delete', accountability))) return;
    const trackers = stored.filter((row) => row['corrected_at'] === null);
    if (trackers.length === 0) return;
    const named = [...(await timingRowLabels(database, 'entry_crossings', trackers.slice(0, 10).map((row) => row['id']))).values()].join(', ');
    const more = trackers.length > 10 ? ` and ${trackers.length - 10} more` : '';
    refuse([{
      field: 'corrected_at',
      message: `${named}${more}: timed by the tracker, not set by hand. Correct its time instead (it is then kept as you set it); the pipeline would write it again when it next times the car. Only crossings set by hand can be deleted here.`,
    }]);
  };
}

/**
 * How far ahead of the clock a crossing written by hand may be: MAX_FUTURE_SKEW_MS in Directus's env, the processor's
 * setting of the same name (a rehearsal on simulated fixes dated days ahead sets both), else 5 minutes.
 */
export function aheadOfClockMs(env: Record<string, unknown>, logger: { warn: (msg: string) => void }): number {
  const raw = env['MAX_FUTURE_SKEW_MS'];
  if (raw === undefined || raw === null || raw === '') return DEFAULT_MAX_FUTURE_SKEW_MS;
  const ms = Number(raw);
  if (Number.isInteger(ms) && ms >= 0) return ms;
  logger.warn(`pitwall: MAX_FUTURE_SKEW_MS ${JSON.stringify(raw)} is no whole number of milliseconds; crossings set by hand may be ${DEFAULT_MAX_FUTURE_SKEW_MS} ms ahead of the clock`);
  return DEFAULT_MAX_FUTURE_SKEW_MS;
}

/**
 * A crossing time corrected by hand is checked the same way (handCrossingProblem): Directus hands a time that is no
 * date to Postgres and answers 500, where a timekeeper needs to be told which field is wrong; a time before year 1
 * (year 0000, which Postgres would keep as a year BC) is refused with the replay route's rule (storableTime), and so is
 * a time further ahead than `aheadMs` (futureCrossingProblem). Its `kind` must be one the timing reads (start, split,
 * finish): any other would drop the car's result. `device_id` left empty is the entry's tracker, and one written must
 * be the entry's (handCrossingTracker). A crossing added, given a time, or moved to another car, line or kind by hand
 * is marked `corrected_at` (unless the write sets that field itself): the pipeline then keeps it as the officials made
 * it (official-crossings). Only people's writes come here; the pipeline's emit no filter.
 */
export function crossingGuard(database: any, { now = () => new Date(), aheadMs = DEFAULT_MAX_FUTURE_SKEW_MS }: { now?: () => Date; aheadMs?: number } = {}) {
  const mayWrite = writePermission(database);
  /** Where the crossing would fall among the entry's other crossings of the stage (handCrossingPlaceProblem). */
  const placeProblem = async (row: Row, id: unknown, timeTyped: boolean): Promise<HandCrossingProblem | null> => {
    const { entry, stage, kind } = row;
    const at = timestampValueMs(row['crossed_at']);
    if (!isUuid(entry) || !isUuid(stage) || typeof kind !== 'string' || Number.isNaN(at)) return null;
    const others: Row[] = await database('entry_crossings').where({ entry, stage }).modify((q: any) => (id ? q.whereNot('id', id) : q)).select('kind', 'crossed_at', 'corrected_at');
    const timeOf = (c: Row) => new Date(c['crossed_at'] as string).getTime();
    const times = (of: string) => others.filter((c) => c['kind'] === of).map(timeOf);
    const corrected = others.filter((c) => c['corrected_at'] !== null).map((c) => ({ kind: String(c['kind']), crossedAt: timeOf(c) }));
    // Only for a time typed: a crossing moved to another car keeps the time the tracker saw.
    const linesApartM = timeTyped && (kind === 'start' || kind === 'finish') ? await startToFinishM(stage) : undefined;
    return handCrossingPlaceProblem({
      kind, crossedAt: at, starts: times('start'), finishes: times('finish'), splits: times('split'), corrected,
      ...(linesApartM === undefined ? {} : { linesApartM, topSpeedKmh: defaultPipelineOptions.maxSpeedKmh }),
    });
  };
  /** The stage's start and finish lines' distance as the crow flies (the closest pair), or undefined without both. */
  const startToFinishM = async (stage: string): Promise<number | undefined> => {
    const row = await database('geofences as s')
      .join('geofences as f', function (this: any) {
        this.on('f.stage', '=', 's.stage').andOn('f.kind', '=', database.raw('?', ['finish_line']));
      })
      .where({ 's.stage': stage, 's.kind': 'start_line' })
      .first(database.raw('MIN(ST_Distance(s.geometry::geography, f.geometry::geography)) AS metres'));
    return row?.metres === null || row?.metres === undefined ? undefined : Number(row.metres);
  };
  /** A line of the crossing's own stage, of its kind: another stage's finish timed the car on the wrong board. */
  const lineProblem = async (row: Row): Promise<string | null> => {
    const { stage, geofence, kind } = row;
    if (!isUuid(geofence) || !isUuid(stage)) return null;
    const line = await database('geofences').where({ id: geofence }).first('name', 'stage', 'kind');
    if (!line) return null; // Directus answers the unknown key itself
    if (line.stage !== stage) return `geofence "${line.name}" is a line of another stage than this crossing's`;
    if (typeof kind === 'string' && LINE_OF[kind] !== undefined && line.kind !== LINE_OF[kind]) return `geofence "${line.name}" is a ${String(line.kind).replace('_', ' ')}, not a ${kind} line`;
    return null;
  };
  /** The tracker a crossing written by hand is credited to (handCrossingTracker), from the entry's assignments. */
  const trackerOf = async (row: Row): Promise<{ deviceId: string } | { message: string } | null> => {
    const { entry } = row;
    const at = timestampValueMs(row['crossed_at']);
    // What is no entry, or no time, is Directus's and the checks' above to name.
    if (!isUuid(entry) || Number.isNaN(at)) return null;
    const [assigned, own]: [Row[], Row | undefined] = await Promise.all([
      database('entry_devices as ed').join('devices as d', 'd.id', 'ed.device').where('ed.entry', entry).orderBy('ed.valid_from').select('d.imei', 'ed.role', 'ed.valid_from', 'ed.valid_to'),
      database('entries').where({ id: entry }).first('race_number'),
    ]);
    const bound = (value: unknown) => (value === null || value === undefined ? null : timestampValueMs(value));
    const trackers: EntryTracker[] = assigned.map((t) => ({ imei: String(t['imei']), role: String(t['role']), validFrom: bound(t['valid_from']), validTo: bound(t['valid_to']) }));
    return handCrossingTracker(row['device_id'], at, trackers, own?.['race_number'] == null ? String(entry) : `#${String(own['race_number'])}`);
  };
  return async (payload: Row, action: 'create' | 'update', accountability: Accountability | null | undefined, stored: Row[] = []): Promise<Row> => {
    if (!(await mayWrite('entry_crossings', action, accountability))) return payload;
    const problems: Problem[] = [];
    const problem = handCrossingProblem({ crossedAt: payload['crossed_at'] });
    if (problem) problems.push({ field: 'crossed_at', message: problem.message });
    else if (typeof payload['crossed_at'] === 'string') {
      const at = directusTimestampMs(payload['crossed_at']);
      const early = beforeYearOne(at);
      const nowMs = now().getTime();
      const future = futureCrossingProblem(payload['kind'] ?? stored[0]?.['kind'], at, nowMs, aheadMs);
      const ahead = stored.map((row) => correctedAheadProblem(payload['kind'] ?? row['kind'], at, nowMs, timestampValueMs(row['crossed_at']))).find((p) => p !== null);
      if (early) problems.push({ field: 'crossed_at', message: `crossed_at ${early}` });
      else if (future ?? ahead) problems.push({ field: 'crossed_at', message: (future ?? ahead)!.message });
    }
    const kind = payload['kind'];
    if (kind !== undefined && kind !== null && !CROSSING_KINDS.includes(kind as string)) {
      problems.push({ field: 'kind', message: `expected one of ${CROSSING_KINDS.join(', ')}, not ${JSON.stringify(kind)}` });
    }
    // Directus stores any text in the source's dropdown; a crossing comes from the live pipeline or a replay.
    const source = payload['source'];
    if (source !== undefined && source !== null && !CROSSING_SOURCES.includes(source as string)) {
      problems.push({ field: 'source', message: `expected one of ${CROSSING_SOURCES.join(', ')}, not ${JSON.stringify(source)}` });
    }
    // Only where the time or what it is a time of changes: a write of other fields leaves the timing as it was.
    if (problems.length === 0 && ['crossed_at', 'kind', 'entry', 'stage', 'geofence'].some((field) => payload[field] !== undefined)) {
      for (const row of action === 'create' ? [{}] : stored) {
        const otherEvent = payload['entry'] !== undefined || payload['stage'] !== undefined ? await entryOfOtherEvent(database, { ...row, ...payload }) : null;
        if (otherEvent) {
          problems.push({ field: payload['entry'] !== undefined ? 'entry' : 'stage', message: otherEvent });
          break;
        }
        const line = await lineProblem({ ...row, ...payload });
        if (line) {
          // A kind changed alone (a finish made a split): the field the official touched is the one named.
          problems.push({ field: payload['geofence'] === undefined && payload['kind'] !== undefined ? 'kind' : 'geofence', message: line });
          break;
        }
        const place = await placeProblem({ ...row, ...payload }, row['id'], payload['crossed_at'] !== undefined);
        if (place) {
          problems.push({ field: place.field === 'kind' ? 'kind' : 'crossed_at', message: place.message });
          break;
        }
      }
    }
    let written = payload;
    if (problems.length === 0 && (action === 'create' || payload['device_id'] !== undefined)) {
      const credited = new Set<string>();
      for (const row of action === 'create' ? [payload] : stored.map((row) => ({ ...row, ...payload }))) {
        const tracker = await trackerOf(row);
        if (tracker === null) continue;
        if ('message' in tracker) {
          problems.push({ field: 'device_id', message: tracker.message });
          break;
        }
        credited.add(tracker.deviceId);
      }
      // One payload for all the rows: an emptied device_id can stand for one tracker only.
      if (credited.size > 1) problems.push({ field: 'device_id', message: 'the crossings changed were made by different trackers: give device_id, or change them one at a time' });
      else if (problems.length === 0 && credited.size === 1) written = { ...payload, device_id: [...credited][0] };
    }
    if (problems.length > 0) refuse(problems);
    // What the crossing is a passage of, changed by hand (a time, or the car it is moved to when trackers were
    // swapped): the officials' word, which the pipeline would otherwise write back over at its next timing of the car.
    const corrected = action === 'create' || ['crossed_at', 'entry', 'stage', 'geofence', 'kind'].some((field) => field in payload);
    return corrected && !('corrected_at' in payload) ? { ...written, corrected_at: now().toISOString() } : written;
  };
}
