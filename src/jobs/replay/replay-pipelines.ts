import type { Fix, LonLat } from '../../domain/course.ts';
import { DevicePipeline, type FactChanges } from '../../domain/pipeline/device-pipeline.ts';
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

  constructor(
    private readonly contexts: ReadonlyMap<string, PipelineContext>,
    private readonly tickAt: number,
    private readonly trackPoints: number,
  ) {}

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
  }

  private take(changes: FactChanges, before: DeviceState, fix: Fix): void {
    for (const key of changes.retractions) {
      this.facts.delete(key);
      this.crossingPoints.delete(key);
    }
    for (const fact of changes.upserts) {
      this.facts.set(fact.key, fact);
      if (fact.type === 'crossing' && !this.crossingPoints.has(fact.key)) {
        this.crossingPoints.set(fact.key, crossingPoint(segmentStart(before, fact.crossedAt) ?? fix, fix, fact.crossedAt));
      }
    }
  }

  private endDevice(): void {
    const { pipeline, context, decimator } = this;
    if (!pipeline || !context || !decimator) return;
    const state = pipeline.state;
    if (state.last) {
      const changes = pipeline.tick(Math.max(this.tickAt, state.last.ts));
      this.take(changes, state, state.last);
    }
    if (decimator.count > 0) this.tracks.push({ deviceId: context.deviceId, entryId: entryAt(context, this.firstTs)?.entryId ?? null, points: decimator.points() });
    this.pipeline = null;
    this.context = null;
    this.decimator = null;
  }
}
