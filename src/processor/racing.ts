import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Fix } from '../domain/course.ts';
import { hasGpsFix } from '../domain/gps-fix.ts';
import { attributesJson, type AttributesJson } from '../domain/io/attributes-json.ts';
import { mappingVersion, type IoMapping } from '../domain/io/index.ts';
import { DevicePipeline, type FactChanges } from '../domain/pipeline/device-pipeline.ts';
import { EntryTimings, sharedEntries } from '../domain/pipeline/entry-timings.ts';
import { mergeChanges } from '../domain/pipeline/merge-changes.ts';
import type { PipelineContext, PipelineOptions } from '../domain/pipeline/pipeline-context.ts';
import { pipelineContexts } from '../domain/pipeline/pipeline-contexts.ts';
import { replacedCrossings } from '../domain/pipeline/replaced-crossings.ts';
import { changesKept } from '../domain/sharding/changes-of-trackers.ts';
import { shardKeys, trackersByEntry } from '../domain/sharding/shard-of.ts';
import type { Position } from '../domain/position.ts';
import { fixesDecodedBefore, upsertDecodedAttributes } from '../store/decoded-attributes.ts';
import { mappingRevisionLabel } from '../store/mapping-revisions.ts';
import { loadRaceSetup, type RaceSetup } from '../store/race-setup.ts';

export interface DecodedRow {
  deviceId: string;
  ts: number;
  /** JSON text of the decoded attributes. */
  attributesJson: string;
  mappingVersion: string;
}

interface Decoder {
  /** The model's rows prepared once; decodes straight to JSON text (a later row of the same IO id wins). */
  json: AttributesJson;
  /** mappingVersion of the rows, to notice a change. */
  hash: string;
  /** The mapping label stored with the rows (mappingLabel): newer mappings win over older ones. */
  version: string;
}

const DAY = 24 * 3600 * 1000;
/** Stored fixes decoded again per statement after a mapping change (see redecodeStale). */
const REDECODE_PAGE = 5_000;
/** How many setup loads look again for fixes decoded by a changed mapping: batches decoded before it may store later. */
const REDECODE_PASSES = 3;
/** Reaches back this much before the load that preceded a change: the database's clock is not this process's. */
const REDECODE_MARGIN_MS = 5_000;
/** At most this many stored fixes are replayed to rebuild one device's state. */
const REHYDRATE_LIMIT = 200_000;

export const toFix = (p: Position): Fix => ({ ts: p.ts, lat: p.latitude, lon: p.longitude, speedKmh: p.speed });

/**
 * The racing side of the processor: one DevicePipeline per tracker that belongs to an entry, each judged on the
 * course of its own entry's event only, the race setup they share (reloaded while running), and IO decoding. An
 * entry carrying several trackers is timed once from all of them (EntryTimings). A device seen for the first time
 * in this process (at its first fix, or at a tick while its stage is open) is rebuilt from all its stored positions,
 * and so are the other trackers of its entry; the facts that this produces again are harmless because their writes
 * are keyed, and the stored fixes its batch brings again (a holder that stored them but was stopped before committing
 * its progress) are not timed twice.
 */
export class Racing {
  private setup: RaceSetup | null = null;
  private setupJson = '';
  private contexts = new Map<string, PipelineContext>();
  private decoders = new Map<string, Decoder>();
  private readonly pipelines = new Map<string, DevicePipeline>();
  private readonly timings = new EntryTimings();
  /** Trackers that got an entry since the last setup load, to time from what is stored without waiting for a fix. */
  private readonly newlyAssigned = new Set<string>();
  /** Trackers sharing a car share a shard key (see shardKeys); absent: the tracker's own IMEI. */
  private shardKeyOf = new Map<string, string>();
  /**
   * Trackers whose shard key a setup load changed (a backup tracker added to their car, a tracker moved between
   * cars), with the key before, until when it still counts (see formerShardKey).
   */
  private formerKeys = new Map<string, { key: string; until: number }>();
  /**
   * How long a former shard key still counts after this process changed it: longer than the other instances can take
   * to load the same change (each loads every PROCESSOR_SETUP_REFRESH_MS, at its own moment).
   */
  formerKeyMs = 15_000;
  /** The trackers of each entry, for facts about an entry (see keptChanges). */
  private trackersOfEntry = new Map<string, string[]>();
  /** Per rebuilt tracker: GPS times stored from its first fix read on, which the stream may bring again (notTimedYet). */
  private readonly storedAhead = new Map<string, { times: Set<number>; last: number }>();
  /** Whether this instance holds the tracker's shard; catch-up leaves the others to their holders. */
  owns: (deviceId: string) => boolean = () => true;
  /** When the race setup was last loaded (performance.now()). */
  private loadedAt: number | null = null;
  /** Models whose IO mapping changed (or came) at a load, from when their fixes may be decoded stale: redecodeStale. */
  private staleDecodes: { model: string; since: number; passes: number }[] = [];
  /** track and catchUp both create pipelines across awaits: one at a time. */
  private busy: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: Knex,
    private readonly options: PipelineOptions,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  get deviceCount(): number {
    return this.pipelines.size;
  }

  shardKey(deviceId: string): string {
    return this.shardKeyOf.get(deviceId) ?? deviceId;
  }

  /**
   * The tracker's shard key before the last setup load changed it, while the other instances may not have loaded
   * the change yet; null otherwise. Its holder keeps storing the tracker's fixes meanwhile (they are no longer its to
   * time): the instance that loaded the change first routed them away, the new holder had not taken them yet, and
   * between the two loads a tester's fixes were stored by neither (seven at 10 Hz, 28 in another run).
   */
  formerShardKey(deviceId: string): string | null {
    const former = this.formerKeys.get(deviceId);
    if (!former) return null;
    if (former.until > this.clock()) return former.key;
    this.formerKeys.delete(deviceId);
    return null;
  }

  /**
   * Drops the state of trackers another instance now times (their shard moved): if their shard comes back, they
   * are rebuilt from stored positions like any tracker first seen.
   */
  forget(isGone: (deviceId: string) => boolean): Promise<void> {
    return this.exclusive(async () => {
      for (const deviceId of [...this.pipelines.keys()]) if (isGone(deviceId)) this.dropPipeline(deviceId);
      for (const deviceId of [...this.newlyAssigned]) if (isGone(deviceId)) this.newlyAssigned.delete(deviceId);
    });
  }

  /** `changes` without those about trackers `isGone` names (a moved shard's): see changesKept. */
  keptChanges(changes: FactChanges, isGone: (deviceId: string) => boolean): FactChanges {
    return changesKept(changes, isGone, (entryId) => this.trackersOfEntry.get(entryId) ?? []);
  }

  /** Reloads the race setup; pipelines switch to a changed setup at their next fix. Returns whether it changed. */
  async refresh(): Promise<boolean> {
    const now = this.clock();
    const loadedAt = performance.now();
    const setup = await loadRaceSetup(this.db, { from: now - 2 * DAY, to: now + 2 * DAY });
    const previousLoad = this.loadedAt;
    this.loadedAt = loadedAt;
    const json = JSON.stringify(setup, (_key, value) => (value instanceof Map ? [...value.entries()] : value));
    if (json === this.setupJson) {
      await this.redecodeStale();
      return false;
    }
    const { decoders, complete } = await this.prepareDecoders(setup.mappings);
    if (this.setup !== null && previousLoad !== null) {
      for (const [model, decoder] of decoders) {
        if (this.decoders.get(model)?.hash === decoder.hash) continue;
        this.staleDecodes = [...this.staleDecodes.filter((s) => s.model !== model), { model, since: previousLoad - REDECODE_MARGIN_MS, passes: 0 }];
      }
    }
    for (const problem of setup.problems) this.log.warn({ problem }, 'race setup problem');
    const contexts = pipelineContexts(setup, this.options);
    // Between batches: a batch being tracked keeps the contexts it started with.
    await this.exclusive(async () => {
      const known = this.setup === null ? null : new Set(this.contexts.keys());
      const inNewEvent = known === null ? new Set<string>() : trackersInNewEvent(this.contexts, contexts);
      this.contexts = contexts;
      this.timings.setShared(sharedEntries(setup.assignments));
      const keys = shardKeys(setup.assignments);
      if (known) this.rememberFormerKeys(keys, new Set([...contexts.keys(), ...known]));
      this.shardKeyOf = keys;
      this.trackersOfEntry = trackersByEntry(setup.assignments);
      // At the first load every tracker is new: those are rebuilt at their next fix, as the stream brings them, or
      // at a tick once the stream has been read (untimedOnOpenStages).
      if (known) for (const deviceId of contexts.keys()) if (!known.has(deviceId)) this.newlyAssigned.add(deviceId);
      this.decoders = decoders;
      for (const [deviceId, pipeline] of this.pipelines) {
        const context = contexts.get(deviceId);
        // A tracker whose shard key moved it to another instance is that one's to time from now on.
        if (!context || !this.owns(deviceId)) this.dropPipeline(deviceId);
        else if (inNewEvent.has(deviceId)) {
          // Given an entry of another event while it races (a sister event on the same ground): rebuilt from what is
          // stored, as a tracker registered during a stage is, so that the fixes it already sent time the new entry
          // too. Switched to the new context, it timed that entry from its next fix on: no start, so no result.
          this.dropPipeline(deviceId);
          this.newlyAssigned.add(deviceId);
        } else pipeline.setContext(context);
      }
      this.setup = setup;
      // A model whose mapping could not be registered makes the next refresh load it all again, to try once more.
      this.setupJson = complete ? json : '';
    });
    this.log.info({ stages: setup.course.stages.length, gates: setup.course.gates.length, devices: this.contexts.size }, 'race setup loaded');
    await this.redecodeStale();
    return true;
  }

  /** Keeps the key each of `devices` had before, where `keys` changes it (see formerShardKey). */
  private rememberFormerKeys(keys: ReadonlyMap<string, string>, devices: ReadonlySet<string>): void {
    const until = this.clock() + this.formerKeyMs;
    for (const deviceId of devices) {
      const before = this.shardKey(deviceId);
      if ((keys.get(deviceId) ?? deviceId) !== before) this.formerKeys.set(deviceId, { key: before, until });
    }
  }

  /**
   * Fixes that came in after a model's IO mapping changed but were decoded before this process read the change (up
   * to PROCESSOR_SETUP_REFRESH_MS of them, or none decoded where the model had no mapping yet) are decoded again with
   * the new mapping: a backfill the change triggers covers only the fixes up to its own start. Done at the load that
   * sees the change and at the next ones (REDECODE_PASSES), for batches that were decoded before it and stored after.
   * A failure is thrown to the caller's retry; the model stays to do.
   */
  private async redecodeStale(): Promise<void> {
    for (const stale of [...this.staleDecodes]) {
      const decoder = this.decoders.get(stale.model);
      const devices = [...(this.setup?.modelOfDevice ?? new Map<string, string>())].filter(([, model]) => model === stale.model).map(([deviceId]) => deviceId);
      let decoded = 0;
      while (decoder && devices.length > 0) {
        const fixes = await fixesDecodedBefore(this.db, devices, decoder.version, performance.now() - stale.since, REDECODE_PAGE);
        decoded += await upsertDecodedAttributes(
          this.db,
          fixes.map((fix) => ({ deviceId: fix.deviceId, ts: fix.ts, attributesJson: decoder.json.fromText(fix.attributes), mappingVersion: decoder.version })),
        );
        if (fixes.length < REDECODE_PAGE) break;
      }
      if (decoded > 0) this.log.info({ model: stale.model, mappingVersion: decoder?.version, fixes: decoded }, 'decoded again fixes that came in after their IO mapping changed');
      stale.passes += 1;
      if (stale.passes >= REDECODE_PASSES) this.staleDecodes = this.staleDecodes.filter((s) => s !== stale);
    }
  }

  /**
   * Each model's rows checked and prepared once per mapping change, not once per decoded value; a changed table is
   * registered as a new mapping revision (once, by whoever sees it first) for its label.
   */
  private async prepareDecoders(mappings: ReadonlyMap<string, IoMapping[]>): Promise<{ decoders: Map<string, Decoder>; complete: boolean }> {
    const decoders = new Map<string, Decoder>();
    let complete = true;
    for (const [model, rows] of mappings) {
      const hash = mappingVersion(rows);
      const known = this.decoders.get(model);
      if (known?.hash === hash) {
        decoders.set(model, known);
        continue;
      }
      try {
        decoders.set(model, { json: attributesJson(rows), hash, version: await mappingRevisionLabel(this.db, model, rows) });
      } catch (error) {
        // One model's table that cannot be registered (a text its jsonb refuses, written around the bundle's checks)
        // must not hold back the rest of the setup: the model keeps the mapping read before, and is tried again.
        this.log.error({ err: error, model }, 'IO mapping of a model not registered; its fixes are decoded with the mapping read before (or not at all) until it is');
        if (known) decoders.set(model, known);
        complete = false;
      }
    }
    return { decoders, complete };
  }

  /** Decoded attributes of the positions whose device model has an IO mapping. */
  decode(positions: readonly Position[]): DecodedRow[] {
    const rows: DecodedRow[] = [];
    for (const p of positions) {
      const model = this.setup?.modelOfDevice.get(p.deviceId);
      const decoder = model === undefined ? undefined : this.decoders.get(model);
      if (!decoder) continue;
      rows.push({ deviceId: p.deviceId, ts: p.ts, attributesJson: decoder.json.fromRaw(p.attributes), mappingVersion: decoder.version });
    }
    return rows;
  }

  /**
   * Runs the positions through their devices' pipelines, in stream order per device, then times again the entries
   * with several trackers that this touched. Returns the fact changes and an undo that puts every touched pipeline
   * back, for a batch that could not be made durable.
   */
  track(positions: readonly Position[]): Promise<{ changes: FactChanges; undo: () => void }> {
    return this.exclusive(() => this.trackNow(positions));
  }

  /**
   * Times the trackers that got an entry after their fixes arrived (an entry added or a tracker assigned during the
   * race, when the stream may have brought all its fixes already), from what is stored of them, and the trackers on a
   * stage open at `now` that this process has not timed yet (untimedOnOpenStages). What cannot be read now is tried
   * again at the next tick.
   */
  private async catchUp(now: number): Promise<FactChanges> {
    const devices = [...this.newlyAssigned];
    this.newlyAssigned.clear();
    // Their stages are those open now: a tracker assigned after its stage closed is the replay's to time.
    const assigned = devices.map((deviceId) => ({ deviceId, at: this.clock() }));
    // Stored fixes of the late window before `now` may come again from the stream (a holder stopped before
    // committing them): rebuilt from there, they are known as stored (notTimedYet).
    const untimed = this.untimedOnOpenStages(now).map((deviceId) => ({ deviceId, at: now - this.options.lateWindowMs }));
    const changes: FactChanges[] = [];
    const retime = new Set<string>();
    const created: string[] = [];
    const undo = this.timings.checkpoint();
    try {
      for (const { deviceId, at } of [...assigned, ...untimed]) {
        if (this.pipelines.has(deviceId) || !this.contexts.has(deviceId) || !this.owns(deviceId)) continue;
        await this.createPipeline(deviceId, at, changes, retime);
        created.push(deviceId);
      }
      await this.rebuildTrackersOf(retime, changes, created, this.clock());
    } catch (error) {
      this.undo([undo], created);
      for (const deviceId of devices) this.newlyAssigned.add(deviceId);
      this.log.warn({ err: error, devices: devices.length + untimed.length }, 'trackers not rebuilt yet; retrying at the next tick');
      return { upserts: [], retractions: [] };
    }
    for (const entryId of retime) changes.push(this.retime(entryId));
    return mergeChanges(changes);
  }

  /**
   * Trackers of this instance on a stage open at `now` (or closed within the late window) that it has no state of:
   * it started, or took their shard over, while their car was silent. Otherwise they would be timed again only at
   * their next fix, which a stopped car never sends: its signal loss never opened, its stage never closed as DNF.
   * None before the stream has been read to its end once (`now` 0): the fixes waiting in it come first.
   */
  private untimedOnOpenStages(now: number): string[] {
    if (now <= 0) return [];
    const untimed: string[] = [];
    for (const [deviceId, context] of this.contexts) {
      if (this.pipelines.has(deviceId) || !this.owns(deviceId)) continue;
      const events = new Set(context.assignments.map((a) => a.eventId));
      if (context.course.stages.some((s) => events.has(s.eventId) && s.opensAt <= now && s.closesAt >= now - this.options.lateWindowMs)) untimed.push(deviceId);
    }
    return untimed;
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.busy.then(work, work);
    this.busy = run.catch(() => undefined);
    return run;
  }

  private async trackNow(positions: readonly Position[]): Promise<{ changes: FactChanges; undo: () => void }> {
    const byDevice = new Map<string, Fix[]>();
    let earliest = Number.POSITIVE_INFINITY;
    for (const p of positions) {
      // Not a tracker this instance stores only under its former shard key (formerShardKey): another times it.
      if (!this.contexts.has(p.deviceId) || !hasGpsFix(p) || !this.owns(p.deviceId)) continue;
      if (p.ts < earliest) earliest = p.ts;
      const fixes = byDevice.get(p.deviceId) ?? [];
      fixes.push(toFix(p));
      byDevice.set(p.deviceId, fixes);
    }
    const undos: (() => void)[] = [this.timings.checkpoint()];
    const created: string[] = [];
    const changes: FactChanges[] = [];
    const retime = new Set<string>();
    try {
      for (const [deviceId, fixes] of byDevice) {
        let pipeline = this.pipelines.get(deviceId);
        if (!pipeline) {
          pipeline = await this.createPipeline(deviceId, Math.min(...fixes.map((f) => f.ts)), changes, retime);
          created.push(deviceId);
        } else {
          undos.push(pipeline.checkpoint());
        }
        // notTimedYet may drop the set; a created pipeline's is dropped with it by undo.
        const storedAhead = this.storedAhead.get(deviceId);
        if (storedAhead) undos.push(() => this.storedAhead.set(deviceId, storedAhead));
        const fresh = await this.notStoredLate(deviceId, pipeline, this.notTimedYet(deviceId, fixes));
        this.route(deviceId, pipeline.pushAll(fresh, this.clock()), changes, retime);
      }
      await this.rebuildTrackersOf(retime, changes, created, earliest);
      for (const entryId of retime) changes.push(this.retime(entryId));
    } catch (error) {
      this.undo(undos, created);
      throw error;
    }
    return { changes: mergeChanges(changes), undo: () => this.undo(undos, created) };
  }

  /**
   * What the passing of time decides (DNF at stage close, an open signal loss), and the timing of trackers that got
   * an entry after their fixes arrived or that this process has no state of yet (catchUp); never in the middle of a
   * batch.
   */
  tick(now: number): Promise<FactChanges> {
    return this.exclusive(async () => {
      // First, so that the trackers it rebuilds are judged at `now` too.
      const changes: FactChanges[] = [await this.catchUp(now)];
      const retime = new Set<string>();
      for (const [deviceId, pipeline] of this.pipelines) this.route(deviceId, pipeline.tick(now), changes, retime);
      for (const entryId of retime) changes.push(this.retime(entryId));
      return mergeChanges(changes);
    });
  }

  /**
   * An entry is timed from all its trackers: those not seen yet in this process are rebuilt from stored positions,
   * on the stages open at `at` (the earliest fix of the batch that moved the entry).
   */
  private async rebuildTrackersOf(entries: Set<string>, changes: FactChanges[], created: string[], at: number): Promise<void> {
    for (const entryId of entries) {
      for (const { deviceId } of this.timings.trackersOf(entryId) ?? []) {
        if (this.pipelines.has(deviceId) || !this.contexts.has(deviceId)) continue;
        await this.createPipeline(deviceId, at, changes, entries);
        created.push(deviceId);
      }
    }
  }

  private async createPipeline(deviceId: string, at: number, changes: FactChanges[], retime: Set<string>): Promise<DevicePipeline> {
    const pipeline = new DevicePipeline(this.contexts.get(deviceId)!);
    this.pipelines.set(deviceId, pipeline);
    this.route(deviceId, await this.rehydrate(pipeline, deviceId, at), changes, retime);
    return pipeline;
  }

  /**
   * The fixes of a tracker not already timed from what is stored. Stored fixes were timed by whoever stored them
   * (positions and their facts commit together); the stream brings them again after a holder stored a batch but
   * was stopped before committing its progress, and a new holder reading in other batches would otherwise time
   * them again from an earlier state: results back to running, crossings announced again, late-data reports.
   */
  private notTimedYet(deviceId: string, fixes: Fix[]): Fix[] {
    const stored = this.storedAhead.get(deviceId);
    if (!stored) return fixes;
    const fresh = fixes.filter((fix) => !stored.times.has(fix.ts));
    // Past the last stored fix: the stream is beyond what was stored, and what follows is new.
    if (fresh.some((fix) => fix.ts > stored.last)) this.storedAhead.delete(deviceId);
    return fresh;
  }

  /**
   * The fixes without those too late to be timed that are stored already: a tracker resends a packet whose
   * acknowledgement was lost, minutes later. Not new, they are not late data: a tester's resend of a 150 s old packet
   * raised a late-data warning and its race event. Read only when a fix is that late, which is rare.
   */
  private async notStoredLate(deviceId: string, pipeline: DevicePipeline, fixes: Fix[]): Promise<Fix[]> {
    const before = pipeline.lateBefore(this.clock());
    const late = before === null ? [] : fixes.filter((fix) => fix.ts < before);
    if (late.length === 0) return fixes;
    let [first, last] = [late[0]!.ts, late[0]!.ts];
    for (const fix of late) [first, last] = [Math.min(first, fix.ts), Math.max(last, fix.ts)];
    // By the millisecond, as fixes are timed: a time sent with microseconds is stored with them.
    const rows: { ts: Date }[] = await this.db('positions')
      .select('ts')
      .where('device_id', deviceId)
      .andWhere('ts', '>=', new Date(first))
      .andWhere('ts', '<', new Date(last + 1));
    if (rows.length === 0) return fixes;
    const stored = new Set(rows.map((r) => r.ts.getTime()));
    return fixes.filter((fix) => !(fix.ts < before! && stored.has(fix.ts)));
  }

  /** A tracker's changes: its own go out as they are; its entry's timing, when shared, is redone from all trackers. */
  private route(deviceId: string, deviceChanges: FactChanges, changes: FactChanges[], retime: Set<string>): void {
    const { own, entries } = this.timings.route(deviceChanges, this.contexts.get(deviceId)!);
    changes.push(own);
    for (const entryId of entries) retime.add(entryId);
  }

  private retime(entryId: string): FactChanges {
    const trackers = (this.timings.trackersOf(entryId) ?? []).flatMap(({ deviceId, role }) => {
      const pipeline = this.pipelines.get(deviceId);
      return pipeline ? [{ deviceId, role, state: pipeline.state }] : [];
    });
    const course = this.contexts.get(trackers[0]?.deviceId ?? '')?.course;
    if (!course) return { upserts: [], retractions: [] };
    return this.timings.retime(entryId, trackers, course, this.options.signalLossMs);
  }

  private undo(undos: (() => void)[], created: string[]): void {
    for (const undo of undos) undo();
    for (const deviceId of created) this.dropPipeline(deviceId);
  }

  /** A tracker's state goes, with what was kept of its stored fixes (see notTimedYet). */
  private dropPipeline(deviceId: string): void {
    this.pipelines.delete(deviceId);
    this.storedAhead.delete(deviceId);
  }

  /**
   * Replays everything stored of the device since the earliest of its stages open at `at` opened (positions are
   * stored with the facts they gave, so what is stored was timed), and keeps the GPS times stored from `at` on,
   * faulty ones included, for notTimedYet.
   */
  private async rehydrate(pipeline: DevicePipeline, deviceId: string, at: number): Promise<FactChanges> {
    const context = this.contexts.get(deviceId)!;
    const events = new Set(context.assignments.map((a) => a.eventId));
    const opens = context.course.stages.filter((s) => events.has(s.eventId) && s.closesAt >= at - this.options.lateWindowMs).map((s) => s.opensAt);
    const from = opens.length > 0 ? Math.min(...opens) : at - this.options.lateWindowMs;
    const rows = await this.db('positions')
      .select('ts', 'latitude', 'longitude', 'speed', 'satellites', 'faulty')
      .where('device_id', deviceId)
      .andWhere('ts', '>=', new Date(from))
      .orderBy('ts')
      .limit(REHYDRATE_LIMIT);
    const ahead = new Set<number>();
    const fixes: Fix[] = [];
    let last = Number.NEGATIVE_INFINITY;
    for (const r of rows) {
      const ts = r.ts.getTime();
      if (ts >= at) ahead.add(ts);
      last = ts;
      if (!r.faulty && hasGpsFix({ latitude: r.latitude, longitude: r.longitude, satellites: r.satellites ?? 1 })) fixes.push({ ts, lat: r.latitude, lon: r.longitude, speedKmh: r.speed });
    }
    if (ahead.size > 0) this.storedAhead.set(deviceId, { times: ahead, last });
    if (fixes.length > 0) this.log.info({ deviceId, fixes: fixes.length, alreadyStored: ahead.size }, 'rebuilt device state from stored positions');
    const rebuilt = pipeline.pushAll(fixes, this.clock());
    if (!rebuilt.upserts.some((fact) => fact.type === 'crossing')) return rebuilt;
    // The tracker's crossings stored over the same span that the rebuild times at another time (replacedCrossings);
    // those the officials set by hand stay theirs.
    const stored = await this.db('entry_crossings')
      .select('entry', 'geofence', 'crossed_at')
      .where('device_id', deviceId)
      .andWhere('crossed_at', '>=', new Date(from))
      .whereNull('corrected_at');
    const replaced = replacedCrossings(rebuilt.upserts, stored.map((r) => ({ entryId: r.entry, gateId: r.geofence, crossedAt: r.crossed_at.getTime() })));
    return replaced.length === 0 ? rebuilt : { upserts: rebuilt.upserts, retractions: [...rebuilt.retractions, ...replaced] };
  }
}

/** Trackers that `after` assigns to an entry of an event `before` did not assign them to. */
function trackersInNewEvent(before: ReadonlyMap<string, PipelineContext>, after: ReadonlyMap<string, PipelineContext>): Set<string> {
  const moved = new Set<string>();
  for (const [deviceId, context] of after) {
    const was = before.get(deviceId);
    if (was && context.assignments.some((a) => !was.assignments.some((b) => b.eventId === a.eventId))) moved.add(deviceId);
  }
  return moved;
}
