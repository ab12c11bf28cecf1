import type { Fix } from '../course.ts';
import { initialDeviceState, type DeviceState } from './device-state.ts';
import { factKey, type AnomalyFact, type Fact } from './facts.ts';
import { mergeChanges } from './merge-changes.ts';
import { entryAt, type PipelineContext } from './pipeline-context.ts';
import { stepDevice } from './step-device.ts';
import { tickDevice } from './tick-device.ts';

/** What changed in a device's facts: upsert these, delete those keys. */
export interface FactChanges {
  upserts: Fact[];
  retractions: string[];
}

/** A fix, or a tick that changed something, with the state before it, so the window can be evaluated again. */
type Evaluated = { at: number; before: DeviceState } & ({ fix: Fix } | { now: number; heardAt: number | null });

/**
 * A burst of late fixes with none for this long has ended, and its count is announced (see reportLate): a tracker
 * emptying its buffer sends them within seconds, and a later one is a burst of its own only once a newer fix came.
 */
const LATE_BURST_QUIET_MS = 5_000;

/**
 * How far ahead of the caller's clock a fix may be dated and still mark how far the tracker's track has come (see
 * horizon): a GPS time a little ahead of a server clock a little behind.
 */
const CLOCK_SLACK_MS = 30_000;

const noChanges = (): FactChanges => ({ upserts: [], retractions: [] });

/**
 * Anomalies that ended are forgotten once the cut-off passes their end. The timing facts (crossings, results,
 * penalties: a few per stage) are kept, since an entry with several trackers is timed from all of their crossings
 * whenever one of them changes (entryTiming). Infinity: kept.
 */
function prunableAfter(fact: Fact): number {
  if (fact.type === 'anomaly') return fact.endedAt ?? Number.POSITIVE_INFINITY;
  return Number.POSITIVE_INFINITY;
}

/**
 * One device's racing pipeline: ordered fixes in, fact changes out. Fixes arriving late but within the window are
 * put back in order and the window after them is evaluated again from the state before them, so the outputs are
 * the same as if the fixes had arrived in order (peers drop such fixes). Older fixes are reported as late data.
 */
export class DevicePipeline {
  private history: Evaluated[] = [];
  /** The caller's clock when the tracker was last heard from (see tickDevice); null: never given one. */
  private heardAt: number | null = null;
  /** late_data anomalies whose count grew since they were last announced (see reportLate). */
  private unannounced = new Set<string>();
  /** The caller's clock when the last late fix came (null: none, or no clock given): see tick. */
  private lateAt: number | null = null;
  /** The facts last scanned by forget, and the earliest time one of them may be forgotten after. */
  private pruneScan: { facts: DeviceState['facts']; after: number } | null = null;
  /** The newest fix that was not dated ahead of the caller's clock when it came (see horizon); null: none yet. */
  private trueNewest: number | null = null;
  /** Fixes dated ahead of the caller's clock from a tracker whose fixes were on time, by time (see push). */
  private ahead: Fix[] = [];

  constructor(
    private context: PipelineContext,
    private current: DeviceState = initialDeviceState(context.deviceId),
  ) {}

  get state(): DeviceState {
    return this.current;
  }

  /** A way back to this moment, for a caller whose batch failed to become durable and will be delivered again. */
  checkpoint(): () => void {
    const { context, current, heardAt, lateAt, trueNewest } = this;
    const history = this.history.slice();
    const ahead = this.ahead.slice();
    const unannounced = new Set(this.unannounced);
    return () => {
      this.context = context;
      this.current = current;
      this.history = history;
      this.heardAt = heardAt;
      this.unannounced = unannounced;
      this.lateAt = lateAt;
      this.trueNewest = trueNewest;
      this.ahead = ahead;
    };
  }

  /** Reference data changed (geofences, entries, formulas): later fixes use the new context. */
  setContext(context: PipelineContext): void {
    this.context = context;
  }

  /**
   * `now`, the caller's clock when the fix arrived (live processing; a replay of stored fixes has none), keeps a fix
   * dated ahead of it from judging the others (see `horizon`), and a tracker sending fixes dated in the past from
   * being judged silent (see tickDevice).
   *
   * A fix dated ahead of the clock from a tracker whose fixes were on time is a glitch of its clock: it waits until
   * the clock reaches it, and is then timed in its place among the true fixes. Timed at once, it was the track's last point
   * for minutes: each true fix after it was evaluated again up to it, and a tester's car, its glitch a copy of a fix
   * in a speed zone dated 4 minutes ahead, got a speeding penalty that grew every second and 450 race events. A
   * tracker whose every fix is ahead (a clock set wrong from the start) is timed as it comes.
   */
  push(fix: Fix, now?: number): FactChanges {
    if (now !== undefined && (this.heardAt === null || now > this.heardAt)) this.heardAt = now;
    const due = now === undefined || this.ahead.length === 0 ? null : this.takeDue(now);
    if (now !== undefined && this.trueNewest !== null && fix.ts > now + CLOCK_SLACK_MS) {
      if (!this.ahead.some((held) => held.ts === fix.ts)) this.ahead = [...this.ahead, fix].sort((a, b) => a.ts - b.ts);
      return due ?? noChanges();
    }
    const changes = this.take(fix, now);
    return due === null ? changes : mergeChanges([due, changes]);
  }

  /**
   * The fixes held ahead of the clock that it has reached, timed in their place: by then the true fixes before each
   * have come, and those after it are still to come.
   */
  private takeDue(now: number): FactChanges {
    if (this.ahead.length === 0 || this.ahead[0]!.ts > now) return noChanges();
    const due = this.ahead.filter((fix) => fix.ts <= now);
    this.ahead = this.ahead.slice(due.length);
    return mergeChanges(due.map((fix) => this.take(fix, now)));
  }

  private take(fix: Fix, now: number | undefined): FactChanges {
    // Without a clock (stored fixes timed again) nothing tells a fix from the future: each counts.
    if ((now === undefined || fix.ts <= now + CLOCK_SLACK_MS) && (this.trueNewest === null || fix.ts > this.trueNewest)) this.trueNewest = fix.ts;
    const newest = this.newestFix();
    if (newest === null || fix.ts > newest) return this.append(fix, now);
    if (fix.ts === newest || this.history.some((h) => 'fix' in h && h.fix.ts === fix.ts)) return noChanges(); // a resent packet
    // The history reaches back past horizon - window (see forget), so any fix within the window has its place in it.
    if (this.history.length > 0 && fix.ts >= this.horizon(newest, now) - this.context.options.lateWindowMs) return this.reevaluate(fix, newest, now);
    return this.reportLate(fix, newest, false);
  }

  /**
   * Fixes dated before this time are too late to be timed, and would be reported as late data (push); null: none
   * yet. `now` as for push.
   */
  lateBefore(now?: number): number | null {
    const newest = this.newestFix();
    if (newest === null) return null;
    return this.history.length > 0 ? Math.min(newest, this.horizon(newest, now) - this.context.options.lateWindowMs) : newest;
  }

  pushAll(fixes: readonly Fix[], now?: number): FactChanges {
    return mergeChanges(fixes.map((fix) => this.push(fix, now)));
  }

  /**
   * Where the late window is measured back from: the newest fix, but never a time after the caller's clock, nor after
   * the newest fix that was not ahead of the clock when it came. A tracker whose clock runs ahead sends a fix minutes
   * in the future (the processor accepts up to MAX_FUTURE_SKEW_MS); judged from that fix, every true fix of the next
   * minutes would be too late to be timed, and a start crossing lost. Judged from the clock, the true fixes of a
   * backlog read after it (a tracker's buffer emptied, the processor catching up after an outage) were: a tester's car
   * lost its speeding and waypoint penalties to one fix dated four minutes ahead, until the processor restarted.
   */
  private horizon(newest: number, now: number | undefined): number {
    if (now === undefined) return newest;
    return Math.min(newest, now, this.trueNewest ?? Number.POSITIVE_INFINITY);
  }

  /**
   * Up to when the tracker is known to have been heard, for the silences its fixes prove (stepDevice): the caller's
   * clock, but not past the newest fix that was not ahead of it. A backlog read after a fix dated minutes ahead put
   * each true fix before that one, and the silence from it to the stamped fix, counted up to the clock, was a new
   * signal loss at every fix.
   */
  private heardUpTo(now: number | undefined): number | undefined {
    return now === undefined || this.trueNewest === null ? now : Math.min(now, this.trueNewest);
  }

  /**
   * Decisions that depend on the clock alone (DNF at stage close, an open signal loss); `now` is the caller's. Also
   * the final count of a burst of late fixes that has been quiet for LATE_BURST_QUIET_MS.
   */
  tick(now: number): FactChanges {
    const due = this.ahead.length === 0 ? noChanges() : this.takeDue(now);
    const late = this.lateAt === null || now - this.lateAt >= LATE_BURST_QUIET_MS ? this.announceLate() : noChanges();
    const before = this.current;
    const { state, changed } = tickDevice(before, now, this.context, this.heardAt);
    if (changed.length === 0) return mergeChanges([due, late]);
    this.history.push({ at: now, now, heardAt: this.heardAt, before });
    this.current = state;
    return mergeChanges([due, late, { upserts: changed.map((key) => state.facts[key]!), retractions: [] }]);
  }

  private newestFix(): number | null {
    for (let i = this.history.length - 1; i >= 0; i--) {
      const h = this.history[i]!;
      if ('fix' in h) return h.fix.ts;
    }
    return this.current.last?.ts ?? null;
  }

  private append(fix: Fix, now: number | undefined): FactChanges {
    // A newer fix ends the burst of late ones before it (their anomaly is keyed by the newest fix they came behind).
    const late = this.announceLate();
    const before = this.current;
    const { state, changed } = stepDevice(before, fix, this.context, this.heardUpTo(now));
    this.history.push({ at: fix.ts, fix, before });
    this.current = state;
    this.forget(this.horizon(fix.ts, now));
    if (changed.length === 0) return late;
    return mergeChanges([late, { upserts: changed.map((key) => state.facts[key]!).filter(Boolean), retractions: changed.filter((key) => !(key in state.facts)) }]);
  }

  /** Puts the late fix in its place and evaluates everything after it again, from the state before it. */
  private reevaluate(fix: Fix, newest: number, now: number | undefined): FactChanges {
    // By the fixes' own times: a tick's `at` is the caller's clock, which on delayed or historical data is later than
    // fixes evaluated after it, so the history is in time order by its fixes only.
    let at = this.history.findIndex((h) => 'fix' in h && h.fix.ts > fix.ts);
    if (at < 0) at = this.history.findIndex((h) => h.at > fix.ts);
    if (at < 0) return this.reportLate(fix, newest, false);
    const replay: Evaluated[] = [{ at: fix.ts, fix, before: this.current }, ...this.history.slice(at)];
    const old = this.current.facts;
    this.current = this.history[at]!.before;
    this.history = this.history.slice(0, at);
    for (const entry of replay) {
      const before = this.current;
      this.current = 'fix' in entry ? stepDevice(before, entry.fix, this.context, this.heardUpTo(now)).state : tickDevice(before, entry.now, this.context, entry.heardAt).state;
      this.history.push({ ...entry, before });
    }
    // Late-data reports are about arrival, not about the track: they survive the re-evaluation as they were.
    const carried = Object.values(old).filter((f) => f.type === 'anomaly' && f.kind === 'late_data');
    this.current = { ...this.current, facts: { ...this.current.facts, ...Object.fromEntries(carried.map((f) => [f.key, f])) } };
    if (newest - fix.ts >= this.context.options.lateNoticeMs) this.reportLate(fix, newest, true);
    const upserts: Fact[] = [];
    const retractions: string[] = [];
    for (const [key, fact] of Object.entries(this.current.facts)) {
      if (JSON.stringify(old[key]) !== JSON.stringify(fact) && !this.unannounced.has(key)) upserts.push(fact);
    }
    for (const key of Object.keys(old)) if (!(key in this.current.facts)) retractions.push(key);
    this.forget(this.horizon(newest, now));
    return { upserts, retractions };
  }

  /**
   * One late_data anomaly per burst (fixes arriving while the newest fix stays the same), counting its fixes and
   * their time span, so a tracker uploading hours of buffered fixes raises one report, not thousands. It is announced
   * (returned as a change) when the burst begins, and with its final count when the burst ends (announceLate): each
   * change of a fact is a race event, and one per late fix flooded Flows and webhooks (924 for one burst).
   */
  private reportLate(fix: Fix, newest: number, reevaluated: boolean): FactChanges {
    const key = factKey.anomaly(this.context.deviceId, 'late_data', `${newest}:${reevaluated ? 'reevaluated' : 'skipped'}`);
    const previous = this.current.facts[key] as AnomalyFact | undefined;
    const count = ((previous?.details.fixes as number | undefined) ?? 0) + 1;
    const from = Math.min(fix.ts, previous?.startedAt ?? fix.ts);
    const to = Math.max(fix.ts, (previous?.details.last_fix_at as number | undefined) ?? fix.ts);
    const anomaly: AnomalyFact = {
      type: 'anomaly',
      key,
      kind: 'late_data',
      severity: reevaluated ? 'info' : 'warning',
      entryId: entryAt(this.context, fix.ts)?.entryId ?? null,
      stageId: null,
      deviceId: this.context.deviceId,
      startedAt: from,
      endedAt: null,
      details: { fixes: count, last_fix_at: to, newest_fix_at: newest, delay_ms: newest - from, reevaluated, window_ms: this.context.options.lateWindowMs },
    };
    this.current = { ...this.current, facts: { ...this.current.facts, [anomaly.key]: anomaly } };
    this.lateAt = this.heardAt;
    if (previous === undefined) return { upserts: [anomaly], retractions: [] };
    this.unannounced.add(key);
    return noChanges();
  }

  /** The late_data anomalies whose count grew since they were announced, as they stand now. */
  private announceLate(): FactChanges {
    if (this.unannounced.size === 0) return noChanges();
    const upserts = [...this.unannounced].flatMap((key) => (this.current.facts[key] ? [this.current.facts[key]] : []));
    this.unannounced.clear();
    return { upserts, retractions: [] };
  }

  /** Keeps only what re-evaluation can reach: the window of fixes before `newest`, and facts that may still change. */
  private forget(newest: number): void {
    const window = this.context.options.lateWindowMs;
    const history = this.history;
    let keepFrom = -1;
    for (let i = 0; i < history.length; i++) {
      const h = history[i]!;
      if ('fix' in h && h.fix.ts >= newest - window) {
        keepFrom = i;
        break;
      }
    }
    // In place: the history array is this pipeline's own (checkpoint() keeps a copy).
    for (let i = 1; i < keepFrom; i++) history.shift();
    // A step that changed no fact shares the facts object, so most fixes need no scan at all.
    const cutoff = newest - 2 * window;
    const scan = this.pruneScan;
    if (scan !== null && scan.facts === this.current.facts && cutoff <= scan.after) return;
    let stale: Fact[] | null = null;
    let after = Number.POSITIVE_INFINITY;
    for (const key in this.current.facts) {
      const fact = this.current.facts[key]!;
      const at = prunableAfter(fact);
      if (at < cutoff) (stale ??= []).push(fact);
      else after = Math.min(after, at);
    }
    if (stale !== null) {
      const facts = { ...this.current.facts };
      for (const fact of stale) delete facts[fact.key];
      this.current = { ...this.current, facts };
    }
    this.pruneScan = { facts: this.current.facts, after };
  }
}
