import type { LonLat } from '../../domain/course.ts';
import { defaultPipelineOptions, type PipelineOptions } from '../../domain/pipeline/pipeline-context.ts';
import type { Fact, PenaltyFact, StageResultFact } from '../../domain/pipeline/facts.ts';
import { storedPenaltyAdjustment, type StoredPenaltyAmount } from '../../domain/penalties/stored-penalty-adjustment.ts';
import { withOfficialPenalties } from '../../domain/pipeline/stage-result.ts';
import { rankStage } from '../../domain/timing/rank-stage.ts';
import { throwIfCancelled, type JobContext } from '../job.ts';
import { applyPlan, diffRows, pairRecords, type DiffRow, type FactPair } from './diff-facts.ts';
import { recordOfFact, type FactRecord } from './fact-records.ts';
import { fastFactId } from './fast-fact-id.ts';
import { factInScope, runKey, type FactScope } from './fact-scope.ts';
import { FixCopyParser } from './fix-copy-parser.ts';
import { copyOut, countFixes, estimateFixes, fixCopySql, type FixRange } from './read-fixes.ts';
import { replayBatches, type ReplayBatch } from './replay-batches.ts';
import { replayParamsSchema, type ReplayParams } from './replay-params.ts';
import { ReplayPipelines } from './replay-pipelines.ts';
import { resolveReplayScope, type ReplayScope } from './replay-scope.ts';
import { loadStoredFacts } from './stored-facts.ts';
import { withOfficialCrossings } from './official-crossings.ts';
import type { TrackPoint } from './track-decimator.ts';

export type { ReplayBatch } from './replay-batches.ts';
export type { DiffRow } from './diff-facts.ts';

/** What the runner gives the replay engine. */
export interface ReplayContext extends JobContext {
  /**
   * Apply mode: posts one batch to `POST /pitwall/facts` (source `replay`); resolves once Directus accepted it, with
   * how many of its changes Directus skipped as superseded (written after the batch's snapshot), when it says.
   */
  deliver(batch: ReplayBatch): Promise<number | void>;
  /** The racing rules of the live processor (GATE_DEBOUNCE_MS, SIGNAL_LOSS_MS, MAX_SPEED_KMH); defaults otherwise. */
  pipelineOptions?: Partial<PipelineOptions>;
  /** The clock; a replay never concludes (DNF, open signal loss) later than now. */
  now?: () => number;
  /** The runner's (see RunContext.final): called before apply's first delivery, after which a cancel is refused. */
  final?: () => Promise<void>;
}

/** The run's `result` (replay_runs.result), rendered by the pitwall-replay panel. */
export interface ReplaySummary {
  mode: ReplayParams['mode'];
  from: string;
  to: string;
  positions: number;
  devices: number;
  /** Replayed facts in scope. */
  facts: { crossings: number; results: number; penalties: number; anomalies: number };
  diff: { counts: { added: number; removed: number; changed: number; unchanged: number }; rows: DiffRow[]; truncated: boolean };
  tracks: { device_id: string; entry: string | null; race_number: number | null; points: TrackPoint[] }[];
  /** Replayed crossings in scope with where they happened, for the map (at most 10,000: `crossings_truncated`). */
  crossings: { entry: string; race_number: number | null; geofence: string; kind: string; crossed_at: string; lon: number; lat: number }[];
  crossings_truncated: boolean;
  /** Apply mode: what was delivered. */
  applied?: {
    upserts: number;
    removals: number;
    batches: number;
    /**
     * Changes left out because their fact was written after the replay read the data (the live processor timing
     * the stage meanwhile): the newer fact stays. Applying again once the stage is quiet takes them in.
     */
    superseded: number;
  };
  problems: string[];
  duration_ms: number;
  positions_per_s: number;
  /** Where the time went: race setup, estimating the count, reading and racing the positions, comparing, delivering. */
  timings_ms: { setup: number; count: number; replay: number; compare: number; apply: number };
}

const MAX_DIFF_ROWS = 2000;
const MAX_MAP_CROSSINGS = 10_000;
/** Below this many planned rows the count is exact (cheap); above, the planner's estimate is the progress total. */
const EXACT_COUNT_BELOW = 250_000;
const MAX_TRACK_POINTS = 400;
/** Over all tracks, so that a replay of hundreds of trackers still gives a result the panel can load. */
const TRACK_POINT_BUDGET = 50_000;

const round6 = (value: number): number => Math.round(value * 1e6) / 1e6;

/** The database's snapshot now: the transactions committed so far, as `pg_snapshot` text. */
async function readSnapshot(db: ReplayContext['db']): Promise<string> {
  const { rows } = (await db.raw('SELECT pg_current_snapshot()::text AS snapshot')) as { rows: { snapshot: string }[] };
  return rows[0]!.snapshot;
}

/** A stored or replayed result as rankStage takes it; stored ones are keyed by row id. */
function resultOf(record: FactRecord): StageResultFact {
  if (record.fact?.type === 'stage_result') return record.fact;
  const { row } = record;
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  const ms = (v: unknown) => (v === null || v === undefined ? null : Date.parse(String(v)));
  return {
    type: 'stage_result', key: record.id, entryId: String(record.entry), stageId: String(record.stage), status: row['status'] as StageResultFact['status'],
    startedAt: ms(row['started_at']), finishedAt: ms(row['finished_at']), elapsedMs: num(row['elapsed_ms']), penaltyMs: num(row['penalty_ms']) ?? 0, totalMs: num(row['total_ms']),
  };
}

/**
 * What the officials' decisions change in each replayed result's penalty total, keyed `entry:stage`
 * (storedPenaltyAdjustment), from the stored penalty rows: a computed penalty they waived counts at the amount the
 * replay gives it, 0 where the replay no longer computes it.
 */
function officialPenaltySums(records: readonly FactRecord[], replayed: readonly Fact[]): Map<string, number> {
  const replayedMs = new Map(replayed.filter((f): f is PenaltyFact => f.type === 'penalty').map((f) => [fastFactId(f.key), f.amountMs]));
  const stored: StoredPenaltyAmount[] = records
    .filter((r) => r.collection === 'entry_penalties')
    .map((r) => ({ id: r.id, entryId: String(r.entry), stageId: String(r.stage), kind: String(r.row['kind']), amountMs: Number(r.row['amount_ms']), waived: r.waived === true }));
  return storedPenaltyAdjustment(stored, (penalty) => replayedMs.get(penalty.id) ?? 0);
}

function resultInScope(fact: StageResultFact, scope: FactScope): boolean {
  return scope.entries.has(fact.entryId) && scope.stages.has(fact.stageId) && fact.startedAt !== null && fact.startedAt >= scope.from && fact.startedAt < scope.to;
}

/**
 * Ranks each stage of the scope as it would stand after the replay: stored results outside the scope plus the
 * replayed ones. Returns the replayed result records with their rank, and the outside results whose rank moves.
 */
function rankResults(replayed: StageResultFact[], stored: FactRecord[], scope: FactScope): { records: FactRecord[]; outside: FactPair[] } {
  const outside = stored.filter((r) => !factInScope(r, scope, new Set()));
  const records: FactRecord[] = [];
  const moved: FactPair[] = [];
  for (const stage of scope.stages) {
    const own = replayed.filter((r) => r.stageId === stage);
    const others = outside.filter((r) => r.stage === stage);
    const ranks = new Map(rankStage([...others.map(resultOf), ...own]).map((r) => [r.key, r.rank]));
    for (const fact of own) records.push(recordOfFact(fact, ranks.get(fact.key) ?? null));
    for (const before of others) {
      const rank = ranks.get(before.id) ?? null;
      if ((before.row['rank'] ?? null) !== rank) moved.push({ before, after: { ...before, row: { ...before.row, rank } }, change: 'changed' });
    }
  }
  return { records, outside: moved };
}

/**
 * Replays the stored positions of the chosen trackers through fresh racing pipelines, compares the facts with what
 * is stored for the same scope, and in apply mode delivers the difference through the live processor's business
 * path. Never writes positions; preview writes nothing at all.
 */
export async function runReplay(input: ReplayParams, ctx: ReplayContext): Promise<ReplaySummary> {
  const started = performance.now();
  const timings = { setup: 0, count: 0, replay: 0, compare: 0, apply: 0 };
  let mark = started;
  const lap = (phase: keyof typeof timings) => {
    const at = performance.now();
    timings[phase] = Math.round(at - mark);
    mark = at;
  };
  const params = replayParamsSchema.parse(input);
  const now = ctx.now ?? Date.now;
  // Replay reads each tracker's fixes strictly in time order (unique (device_id, ts)): nothing is ever late, so the
  // pipelines need no late window, and without one they keep one fix of history instead of two minutes of it.
  const options: PipelineOptions = { ...defaultPipelineOptions, ...ctx.pipelineOptions, lateWindowMs: 0 };
  const scope: ReplayScope = await resolveReplayScope(ctx.db, params, options);
  throwIfCancelled(ctx.signal);
  lap('setup');

  const range: FixRange = { devices: scope.devices, from: scope.from, to: scope.to };
  // Progress counts against the exact number of rows when the planner expects few, else against its estimate: an
  // exact count of a large range scans it all once more (a quarter of the replay's time, measured). Never below what
  // was read; the last report gives the exact number.
  const planned = await estimateFixes(ctx.db, range);
  const estimate = planned < EXACT_COUNT_BELOW ? await countFixes(ctx.db, range) : planned;
  const total = (): number => Math.max(estimate, parser.rows);
  lap('count');
  const trackPoints = Math.min(MAX_TRACK_POINTS, Math.max(20, Math.floor(TRACK_POINT_BUDGET / Math.max(1, scope.devices.length))));
  const pipelines = new ReplayPipelines(scope.contexts, Math.min(scope.to, now()), trackPoints, scope.shared);
  const parser = new FixCopyParser(pipelines);
  // Before the positions and the stored facts are read: what the live processor writes after this point is newer
  // than anything the replay can know of, and apply leaves it alone (see `snapshot` in fact-batch.ts).
  const snapshot = await readSnapshot(ctx.db);
  await ctx.progress({ processed: 0, total: total() });
  await copyOut(
    ctx.db,
    fixCopySql(range),
    (chunk) => parser.push(chunk),
    async () => {
      throwIfCancelled(ctx.signal);
      await ctx.progress({ processed: parser.rows, total: total() });
    },
  );
  parser.finish();
  pipelines.finish();
  const positions = parser.rows;
  lap('replay');

  const factScope: FactScope = { from: scope.from, to: scope.to, entries: scope.entries, stages: scope.stages, devices: new Set(scope.devices), stage: scope.stage };
  const stored = await loadStoredFacts(ctx.db, factScope);
  // The officials' crossings stand, and results are timed from them, as the endpoint applies them.
  const replayed = withOfficialCrossings([...pipelines.facts.values()], stored.records);
  // A result is in scope by its entry, stage and start: the record's id and rank do not matter for the test. It is
  // compared and ranked with the penalties officials gave by hand, as the endpoint stores it, and delivered without
  // them, as the pipeline made it (the endpoint adds them).
  const official = officialPenaltySums(stored.records, replayed);
  const asMade = new Map<string, StageResultFact>();
  const replayedResults = replayed
    .filter((f): f is StageResultFact => f.type === 'stage_result' && resultInScope(f, factScope))
    .map((f) => {
      asMade.set(f.key, f);
      return withOfficialPenalties(f, official.get(`${f.entryId}:${f.stageId}`) ?? 0);
    });
  const ranked = rankResults(replayedResults, stored.results, factScope);
  for (const record of ranked.records) if (record.fact?.type === 'stage_result') record.fact = asMade.get(record.fact.key);
  const storedResults = stored.results.filter((r) => factInScope(r, factScope, new Set()));
  const runs = new Set([...storedResults, ...ranked.records].map((r) => runKey(r.entry, r.stage)));
  const after = [...ranked.records, ...replayed.filter((f) => f.type !== 'stage_result').map((f) => recordOfFact(f)).filter((r) => factInScope(r, factScope, runs))];
  const before = [...storedResults, ...stored.records.filter((r) => factInScope(r, factScope, runs))];
  const pairs = [...pairRecords(before, after), ...ranked.outside];
  const names = { raceNumbers: scope.raceNumbers, stageNames: scope.stageNames, geofenceNames: scope.geofenceNames };
  const diff = diffRows(pairs, names, MAX_DIFF_ROWS);
  const raceNumber = (entry: string | null) => (entry ? (scope.raceNumbers.get(entry) ?? null) : null);
  lap('compare');

  let applied: ReplaySummary['applied'];
  if (params.mode === 'apply') {
    const plan = applyPlan(pairs);
    const batches = replayBatches(plan);
    // Removals go first: stopped in between, the stage would keep crossings removed and no replacements.
    if (batches.length > 0) await ctx.final?.();
    let superseded = 0;
    for (const batch of batches) {
      throwIfCancelled(ctx.signal);
      superseded += (await ctx.deliver({ ...batch, snapshot })) ?? 0;
    }
    applied = { upserts: plan.upserts.length, removals: plan.removals.length, batches: batches.length, superseded };
    if (superseded > 0) ctx.log.info({ superseded }, 'replay: facts written by the live processor after the replay read them were left as they are');
  }
  lap('apply');
  await ctx.progress({ processed: positions, total: positions });

  const mapCrossings: ReplaySummary['crossings'] = after.flatMap((r) => {
    if (r.fact?.type !== 'crossing') return [];
    const point: LonLat | undefined = pipelines.crossingPoints.get(r.fact.key);
    if (!point) return [];
    return [{ entry: r.fact.entryId, race_number: raceNumber(r.fact.entryId), geofence: r.fact.gateId, kind: r.fact.kind, crossed_at: new Date(r.fact.crossedAt).toISOString(), lon: round6(point[0]), lat: round6(point[1]) }];
  });
  const count = (collection: FactRecord['collection']) => after.filter((r) => r.collection === collection).length;
  const durationMs = Math.round(performance.now() - started);
  const summary: ReplaySummary = {
    mode: params.mode,
    from: new Date(scope.from).toISOString(),
    to: new Date(scope.to).toISOString(),
    positions,
    devices: pipelines.tracks.length,
    facts: { crossings: count('entry_crossings'), results: count('stage_results'), penalties: count('entry_penalties'), anomalies: count('anomalies') },
    diff,
    tracks: pipelines.tracks.map((t) => ({ device_id: t.deviceId, entry: t.entryId, race_number: raceNumber(t.entryId), points: t.points })),
    crossings: mapCrossings.slice(0, MAX_MAP_CROSSINGS),
    crossings_truncated: mapCrossings.length > MAX_MAP_CROSSINGS,
    ...(applied ? { applied } : {}),
    problems: scope.problems,
    duration_ms: durationMs,
    positions_per_s: durationMs > 0 ? Math.round((positions / durationMs) * 1000) : positions,
    timings_ms: timings,
  };
  ctx.log.info({ mode: params.mode, positions, devices: summary.devices, counts: diff.counts, applied, durationMs }, 'replay finished');
  return summary;
}
