import type { Fix, LonLat } from '../../domain/course.ts';
import { DevicePipeline, type FactChanges } from '../../domain/pipeline/device-pipeline.ts';
import { EntryTimings, type EntryTracker } from '../../domain/pipeline/entry-timings.ts';
import type { DeviceState } from '../../domain/pipeline/device-state.ts';
import type { Fact } from '../../domain/pipeline/facts.ts';
import { entryAt, type PipelineContext } from '../../domain/pipeline/pipeline-context.ts';
import { crossingPoint } from './crossing-point.ts';
import type { FixRowSink } from './fix-copy-parser.ts';
import { TrackDecimator, type TrackPoint } from './track-decimator.ts';

export interface ReplayedTrack {
  deviceId: string;
  entryId: string | null;
  points: TrackPoint[];
}

/** The fix of the state before a step that a crossing at `at` was interpolated from (a resumed jump uses the suspect). */
function segmentStart(state: DeviceState, at: number): Fix | null {
  const { last, suspect } = state;
  if (suspect && suspect.ts <= at && (!last || suspect.ts > last.ts)) return suspect;
  return last;
}

/**
 * Fresh DevicePipelines fed with one tracker's stored fixes after another (rows come ordered by tracker, then time).
 * Keeps the latest version of every fact, where each crossing happened, and a thinned track per tracker. After a
 * tracker's last fix its pipeline is ticked at `tickAt`, so a DNF or an open signal loss concludes as it would live.
 * An entry with several trackers is timed from all of them once the last row is in (EntryTimings, as live).
 */
export class ReplayPipelines implements FixRowSink {
  readonly facts = new Map<string, Fact>();
  readonly crossingPoints = new Map<string, LonLat>();
  readonly tracks: ReplayedTrack[] = [];
  /** Rows of trackers without a context (none when the query names only scoped trackers). */
  skipped = 0;
  private pipeline: DevicePipeline | null = null;
  private context: PipelineContext | null = null;
  private decimator: TrackDecimator | null = null;
  private firstTs = 0;
  private readonly timings: EntryTimings;
  /** The last state of each replayed tracker of an entry timed from several, and the entries to time. */
  private readonly sharedStates = new Map<string, DeviceState>();
  private readonly retime = new Set<string>();

  constructor(
    private readonly contexts: ReadonlyMap<string, PipelineContext>,
    private readonly tickAt: number,
    private readonly trackPoints: number,
    shared: ReadonlyMap<string, readonly EntryTracker[]> = new Map(),
  ) {
    this.timings = new EntryTimings(shared);
  }

  device(deviceId: string): void {
    this.endDevice();
    const context = this.contexts.get(deviceId) ?? null;
    this.context = context;
    this.pipeline = context ? new DevicePipeline(context) : null;
    this.decimator = context ? new TrackDecimator(this.trackPoints) : null;
  }

  fix(ts: number, lat: number, lon: number, speedKmh: number): void {
    const pipeline = this.pipeline;
    if (pipeline === null) {
      this.skipped++;
      return;
    }
    const fix: Fix = { ts, lat, lon, speedKmh };
    const before = pipeline.state;
    const changes = pipeline.push(fix);
    if (changes.upserts.length > 0 || changes.retractions.length > 0) this.take(changes, before, fix);
    if (this.decimator!.count === 0) this.firstTs = ts;
    this.decimator!.push(lon, lat, ts);
  }

  /** After the last row. */
  finish(): void {
    this.endDevice();
    for (const entryId of this.retime) {
      const trackers = (this.timings.trackersOf(entryId) ?? []).flatMap(({ deviceId, role }) => {
        const state = this.sharedStates.get(deviceId);
        return state ? [{ deviceId, role, state }] : [];
      });
      const context = this.contexts.get(trackers[0]!.deviceId)!;
      for (const fact of this.timings.retime(entryId, trackers, context.course, context.options.signalLossMs).upserts) this.facts.set(fact.key, fact);
    }
    this.retime.clear();
  }

  private take(changes: FactChanges, before: DeviceState, fix: Fix): void {
    // Where every crossing of the tracker happened, also those its entry's timing may choose from later.
    for (const key of changes.retractions) this.crossingPoints.delete(key);
    for (const fact of changes.upserts) {
      if (fact.type === 'crossing' && !this.crossingPoints.has(fact.key)) {
        this.crossingPoints.set(fact.key, crossingPoint(segmentStart(before, fact.crossedAt) ?? fix, fix, fact.crossedAt));
      }
    }
    const { own, entries } = this.timings.route(changes, this.context!);
    for (const key of own.retractions) this.facts.delete(key);
    for (const fact of own.upserts) this.facts.set(fact.key, fact);
    for (const entryId of entries) this.retime.add(entryId);
  }

  private endDevice(): void {
    const { pipeline, context, decimator } = this;
    if (!pipeline || !context || !decimator) return;
    const state = pipeline.state;
    if (state.last) {
      const changes = pipeline.tick(Math.max(this.tickAt, state.last.ts));
      this.take(changes, state, state.last);
    }
    if (context.assignments.some((a) => this.timings.trackersOf(a.entryId) !== null)) this.sharedStates.set(context.deviceId, pipeline.state);
    if (decimator.count > 0) this.tracks.push({ deviceId: context.deviceId, entryId: entryAt(context, this.firstTs)?.entryId ?? null, points: decimator.points() });
    this.pipeline = null;
    this.context = null;
    this.decimator = null;
  }
}
