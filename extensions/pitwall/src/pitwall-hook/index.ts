import { ForbiddenError } from '@directus/errors';
import { defineHook } from '@directus/extensions-sdk';
import type { Accountability, SchemaOverview } from '@directus/types';
import { BUNDLE_NAME, BUNDLE_VERSION } from '../shared/bundle-info';
import '../shared/zod-messages';
import { PROCESSOR_ROLE, roleCheck } from '../shared/role-callers';
import { handBackUnsettled, publishPendingSafely } from '../shared/race-events-publish';
import { announceHandCrossings, emitIoMappingChanged, recomputeStageResults } from '../shared/race-events-recompute';
import { forgetSubscriptions } from '../shared/webhook-store';
import { drainWorkUnderWay, isDraining } from '../shared/delivery-drain';
import { handsOverToFlows, learnFlowEmitter } from '../shared/flow-handover';
import { dispatchContextFrom, resumeStaleChains } from '../shared/webhook-chains';
import { keepMaskOutOfSecret } from '../shared/subscription-secret-guard';
import { subscriptionGuard } from '../shared/subscription-guard';
import { emitRunsCompleted } from '../shared/run-events';
import { isTerminal } from '../../../../src/jobs/job';
import { replayWriteRefusal } from '../shared/replay-access';
import { runCollection, runKinds } from '../shared/runs';
import { runChangeGuard } from '../shared/run-changes';
import { runCreateGuard, runParamsChangeGuard } from '../shared/run-create-guard';
import { assignmentGuard } from '../shared/assignment-guard';
import { courseGuard } from '../shared/course-guard';
import { perTurn } from '../shared/per-turn';
import { rowsCommitted } from '../shared/committed-rows';
import { ioMappingGuard } from '../shared/io-mapping-guard';
import { aheadOfClockMs, crossingDeleteGuard, crossingGuard, penaltyDeleteGuard, penaltyGuard } from '../shared/timing-guard';
import { refuse, writePermission } from '../shared/write-guard';
import { handEventProblem } from '../../../../src/domain/events/hand-event-problem';
import { columnGuard, pitwallCollectionNames } from '../shared/column-values';
import { windowGuard, WINDOWS, type WindowCollection } from '../shared/window-guard';
import { stageNameGuard } from '../shared/stage-name-guard';

const timingCollections = ['entry_crossings', 'entry_penalties'] as const;

type Meta = { key?: string | number; keys?: (string | number)[]; payload?: Record<string, unknown>; collection?: string };
type Ctx = { accountability?: Accountability | null; database?: any; schema?: SchemaOverview | null };
/** Rows one action changed: their ids, what they held before, and who changed them. */
type Changed = { ids: string[]; old: Record<string, unknown>[]; accountability?: Accountability | null };

/** How long a stopping Directus waits for the work under way (orchestrators kill after about 10 s). */
const DRAIN_MS = 8_000;
const drainsDeliveries = Symbol.for('pitwall.drainsDeliveries');
/**
 * Every 15 seconds: a chain handed back by an instance that stopped, or whose crashed owner's lease ran out, resumes
 * on a surviving instance within that much; a sweep that finds nothing costs two queries on small tables.
 */
const SWEEP_CRON = '*/15 * * * * *';

/**
 * Directus's graceful stop destroys the database pool first; hold that until the race events being published have
 * been handed to their Flows' delivery chains, the webhook attempts under way are answered and recorded, and the
 * chains waiting between attempts and the events whose Flow runs have not ended are handed back, so a restart
 * neither resends nor drops them. Directus offers no
 * event before the pool goes, hence the wrapper (set once per process).
 */
function drainBeforePoolCloses(database: any, logger: { warn: (msg: string) => void }): void {
  if (database[drainsDeliveries]) return;
  database[drainsDeliveries] = true;
  const destroy = database.destroy.bind(database);
  // knex defines its methods read-only (but configurable).
  Object.defineProperty(database, 'destroy', {
    configurable: true,
    value: async (...args: unknown[]) => {
      const left = await drainWorkUnderWay(DRAIN_MS);
      if (left > 0) logger.warn(`pitwall: ${left} publications or webhook deliveries still under way at shutdown; they resume after the restart`);
      await handBackUnsettled(database).catch(() => undefined);
      return destroy(...args);
    },
  });
}

export default defineHook(({ init, filter, action, schedule }, { services, database, getSchema, logger, env }) => {
  const context = async () => ({ services, database, schema: await getSchema(), logger });
  const keysOf = (meta: Meta): string[] => (meta.keys ?? (meta.key !== undefined ? [meta.key] : [])).map(String);
  /** The ids a delete filter is given: one key or a list. */
  const deletedIds = (keys: unknown): string[] => (Array.isArray(keys) ? keys : [keys]).map(String);
  /** Rows read by a filter before they are changed or deleted, for the action that follows. */
  const before = new Map<string, Record<string, unknown>>();
  /** The current values of rows, by their ids (one array parameter: an import may change thousands). */
  const rowsOf = (collection: string, ids: string[], fields: string[]): Promise<Record<string, unknown>[]> =>
    database(collection).whereRaw('id = ANY(?)', [ids]).select(fields);
  const keepBefore = (collection: string, rows: Record<string, unknown>[]) => {
    for (const row of rows) before.set(`${collection}:${row['id']}`, row);
  };
  const remember = (collection: string, fields: string[]) => async (keys: unknown) => {
    const ids = deletedIds(keys);
    if (ids.length > 0) keepBefore(collection, await rowsOf(collection, ids, ['id', ...fields]));
    return keys;
  };
  const takeBefore = (collection: string, ids: string[]) =>
    ids.flatMap((id) => {
      const row = before.get(`${collection}:${id}`);
      before.delete(`${collection}:${id}`);
      return row ? [row] : [];
    });

  // The processor's writes are the pipeline's, never a hand correction.
  const isProcessor = roleCheck(database, PROCESSOR_ROLE);
  const isHandCorrection = async (accountability: Accountability | null | undefined): Promise<boolean> =>
    Boolean(accountability?.user) && !(await isProcessor(accountability));

  const guard = (what: string, fn: () => Promise<unknown>) => {
    fn().catch((err) => logger.error({ err }, `pitwall: ${what} failed`));
  };
  /** Waits until the rows of the gathered actions are committed; on a failure, goes on with what is committed. */
  const committed = (collection: string, kind: 'create' | 'update' | 'delete') => (parts: Changed[]) =>
    rowsCommitted(database, collection, kind, parts.map((p) => p.ids)).catch((err) =>
      logger.warn({ err }, `pitwall: waiting for ${collection} rows to be committed failed; reading them as they are`),
    );

  // io_mappings: rows the decoder cannot use are refused when written (io-mapping-guard); one io_mapping.changed
  // event per model for every create, update or delete.
  const ioMappings = ioMappingGuard(database);
  filter('io_mappings.items.update', async (payload, meta, ctx) => {
    // One read of the stored rows: the guard checks what the update makes of them, the action announces them.
    const stored = await rowsOf('io_mappings', keysOf(meta as Meta), ['*']);
    await ioMappings(payload as Record<string, unknown>, stored, (ctx as Ctx)?.accountability, (ctx as Ctx)?.database ?? database);
    keepBefore('io_mappings', stored);
    return payload;
  });
  filter('io_mappings.items.delete', remember('io_mappings', ['model', 'io_id']));
  filter('io_mappings.items.create', (payload, _meta, ctx) => ioMappings(payload as Record<string, unknown>, null, (ctx as Ctx)?.accountability, (ctx as Ctx)?.database ?? database));
  for (const kind of ['create', 'update', 'delete'] as const) {
    // The rows of one request together (Directus emits an action per row of a createMany, and the actions of an
    // import before it commits): one event per model, once the rows are committed.
    const changed = perTurn(
      (parts: Changed[]) =>
        guard('io_mapping.changed', async () => {
          const now = kind === 'delete' ? [] : await rowsOf('io_mappings', parts.flatMap((p) => p.ids), ['model', 'io_id']);
          await emitIoMappingChanged(kind, [...parts.flatMap((p) => p.old), ...now] as { model: string; io_id: number }[], await context());
        }),
      committed('io_mappings', kind),
    );
    action(`io_mappings.items.${kind}`, (meta: Meta) => {
      const ids = keysOf(meta);
      changed({ ids, old: takeBefore('io_mappings', ids) });
    });
  }

  // Hand corrections of crossings and penalties re-time the affected results; penalties and crossing times the
  // timing cannot use are refused when written (timing-guard).
  const penalties = penaltyGuard(database);
  const penaltyDeletes = penaltyDeleteGuard(database);
  // A crossing typed ahead of the clock: as far as the processor takes a fix, with the same setting.
  const crossings = crossingGuard(database, { aheadMs: aheadOfClockMs(env, logger) });
  const crossingDeletes = crossingDeleteGuard(database);
  filter('entry_penalties.items.create', (payload, _meta, ctx) => penalties(payload as Record<string, unknown>, null, (ctx as Ctx)?.accountability));
  filter('entry_crossings.items.create', (payload, _meta, ctx) => crossings(payload as Record<string, unknown>, 'create', (ctx as Ctx)?.accountability));
  for (const collection of timingCollections) {
    filter(`${collection}.items.update`, async (payload, meta, ctx) => {
      const accountability = (ctx as Ctx)?.accountability;
      const stored = await rowsOf(collection, keysOf(meta as Meta), ['id', 'entry', 'stage', 'kind', ...(collection === 'entry_penalties' ? ['amount_ms', 'details', 'waived', 'waived_reason'] : ['crossed_at', 'geofence'])]);
      const checked = collection === 'entry_penalties'
        ? await penalties(payload as Record<string, unknown>, stored, accountability)
        : await crossings(payload as Record<string, unknown>, 'update', accountability, stored);
      keepBefore(collection, stored);
      return checked;
    });
    filter(`${collection}.items.delete`, async (keys: unknown, _meta, ctx) => {
      const ids = deletedIds(keys);
      if (ids.length === 0) return keys;
      const stored = await rowsOf(collection, ids, ['id', 'entry', 'stage', ...(collection === 'entry_penalties' ? ['kind'] : ['corrected_at'])]);
      if (collection === 'entry_penalties') await penaltyDeletes(stored, (ctx as Ctx)?.accountability);
      else await crossingDeletes(stored, (ctx as Ctx)?.accountability);
      keepBefore(collection, stored);
      return keys;
    });
    for (const kind of ['create', 'update', 'delete'] as const) {
      // The rows of one request together, once committed: each stage is re-timed once, not once per row.
      const corrected = perTurn(
        (parts: Changed[]) =>
          guard(`re-timing after ${collection}.${kind}`, async () => {
            const hand: Changed[] = [];
            for (const part of parts) if (await isHandCorrection(part.accountability)) hand.push(part);
            if (hand.length === 0) return;
            // The crossing as the officials set it, then the results it times.
            if (collection === 'entry_crossings' && kind !== 'delete') {
              await announceHandCrossings(hand.flatMap((p) => p.ids), await context()).catch((err) => logger.error({ err }, 'pitwall: announcing crossings set by hand failed'));
            }
            const now = kind === 'delete' ? [] : await rowsOf(collection, hand.flatMap((p) => p.ids), ['entry', 'stage']);
            const pairs = [...hand.flatMap((p) => p.old), ...now].map((r) => ({ entry: String(r['entry']), stage: String(r['stage']) }));
            await recomputeStageResults(pairs, await context());
          }),
        committed(collection, kind),
      );
      action(`${collection}.items.${kind}`, (meta: Meta, ctx: Ctx) => {
        const ids = keysOf(meta);
        corrected({ ids, old: takeBefore(collection, ids), accountability: ctx?.accountability });
      });
    }
  }

  // An entry deleted takes its results with it (they cascade): the stages it had results in are ranked again and the
  // new ranks announced. Otherwise the stored ranks kept its place empty (no rank 1 when the leader was deleted) and
  // Flows and webhooks knew nothing, until the next change in the stage.
  filter('entries.items.delete', async (keys: unknown) => {
    const ids = deletedIds(keys);
    if (ids.length === 0) return keys;
    const results = await database('stage_results').whereRaw('entry = ANY(?)', [ids]).select('entry', 'stage');
    keepBefore('entries', ids.map((id) => ({ id, stages: results.filter((r: Record<string, unknown>) => String(r['entry']) === id).map((r: Record<string, unknown>) => String(r['stage'])) })));
    return keys;
  });
  const ranked = perTurn(
    (parts: Changed[]) =>
      guard('ranking again after entries.delete', async () => {
        const pairs = parts.flatMap((p) => p.old.flatMap((row) => (row['stages'] as string[]).map((stage) => ({ entry: String(row['id']), stage }))));
        if (pairs.length > 0) await recomputeStageResults(pairs, await context());
      }),
    committed('entries', 'delete'),
  );
  action('entries.items.delete', (meta: Meta) => {
    const ids = keysOf(meta);
    ranked({ ids, old: takeBefore('entries', ids) });
  });

  // Race events written by people (an admin's test event for a Flow) are heard as real ones: a type outside the
  // catalogue is refused (handEventProblem). Once written, no person changes one: they are the record. The bundle's
  // own writes run without a user and are not checked here.
  const mayWriteEvents = writePermission(database);
  filter('race_events.items.create', async (payload, _meta, ctx) => {
    const accountability = (ctx as Ctx)?.accountability;
    // A caller who may not write race events gets Directus's 403, not the catalogue of types.
    if (!accountability?.user || !(await mayWriteEvents('race_events', 'create', accountability))) return payload;
    const problem = handEventProblem(payload as Record<string, unknown>);
    if (problem) refuse([problem]);
    return payload;
  });
  filter('race_events.items.update', (payload, _meta, ctx) => {
    if ((ctx as Ctx)?.accountability?.user) throw new ForbiddenError({ reason: 'race events are the record of what the timing did and announced: they are not changed once written' });
    return payload;
  });

  // Geofences and waypoints the timing cannot use are refused when made (course-guard).
  const course = courseGuard(database);
  for (const write of ['create', 'update'] as const) {
    const keys = (meta: unknown) => (write === 'create' ? null : keysOf(meta as Meta));
    filter(`geofences.items.${write}`, (payload, meta, ctx) => course.geofences(payload as Record<string, unknown>, keys(meta), (ctx as Ctx)?.accountability));
    filter(`waypoints.items.${write}`, (payload, meta, ctx) => course.waypoints(payload as Record<string, unknown>, keys(meta), (ctx as Ctx)?.accountability));
  }

  // A stage, event or assignment closing before it opens is refused: such a stage stops timing (window-guard).
  const windows = windowGuard(database);
  for (const collection of Object.keys(WINDOWS) as WindowCollection[]) {
    for (const write of ['create', 'update'] as const) {
      filter(`${collection}.items.${write}`, (payload, meta, ctx) =>
        windows(collection, payload as Record<string, unknown>, write === 'create' ? null : keysOf(meta as Meta), (ctx as Ctx)?.accountability, (ctx as Ctx)?.database),
      );
    }
  }

  // Two stages of one event under one name are refused: the board and the exports tell stages apart by name.
  const stageNames = stageNameGuard(database);
  for (const write of ['create', 'update'] as const) {
    filter(`stages.items.${write}`, (payload, meta, ctx) =>
      stageNames(payload as Record<string, unknown>, write === 'create' ? null : keysOf(meta as Meta), (ctx as Ctx)?.accountability, (ctx as Ctx)?.database),
    );
  }

  // One tracker on two entries of one event at once is refused: only one of them would be timed (assignment-guard).
  const assignments = assignmentGuard(database);
  for (const write of ['create', 'update'] as const) {
    filter(`entry_devices.items.${write}`, (payload, meta, ctx) =>
      assignments(payload as Record<string, unknown>, write === 'create' ? null : keysOf(meta as Meta), (ctx as Ctx)?.accountability, (ctx as Ctx)?.database),
    );
  }

  // A run a person queues through /items is checked as the endpoint checks it, and gets its checked params
  // (run-create-guard). Before the replay filter below: params that are no request get the 400 naming them, not the
  // apply-mode 403 their missing mode would give; a well-formed apply asked by a non-admin still gets that 403.
  const runCreates = runCreateGuard(database, isProcessor);
  for (const kind of runKinds) {
    filter(`${runCollection(kind)}.items.create`, (payload, _meta, ctx) =>
      runCreates(kind, payload as Record<string, unknown>, (ctx as Ctx)?.accountability, (ctx as Ctx)?.database),
    );
  }
  // Race Control may preview a replay and cancel one; applying one rewrites timing, which only admins may (replay-access).
  for (const write of ['create', 'update'] as const) {
    filter(`replay_runs.items.${write}`, (payload, _meta, ctx) => {
      const reason = replayWriteRefusal(write, payload, (ctx as Ctx)?.accountability);
      if (reason) throw new ForbiddenError({ reason });
      return payload;
    });
  }
  // Nor may anyone but an admin change a run that ended, or stop a replay applying its changes (run-changes).
  // Their params change only while they are queued, checked as a new run's are (run-create-guard).
  const runChanges = runChangeGuard(database);
  const paramsChanges = runParamsChangeGuard(database, isProcessor);
  for (const kind of runKinds) {
    filter(`${runCollection(kind)}.items.update`, async (payload, meta, ctx) => {
      const { accountability, database: knex } = (ctx as Ctx) ?? {};
      await runChanges(kind, keysOf(meta as Meta), accountability, knex);
      return paramsChanges(kind, keysOf(meta as Meta), payload as Record<string, unknown>, accountability, knex);
    });
  }

  // A run that ended (recorded by the job runner, or cancelled by a user) emits replay/backfill.completed.
  for (const kind of runKinds) {
    action(`${runCollection(kind)}.items.update`, (meta: Meta) =>
      guard(`${kind}.completed`, async () => {
        if (!isTerminal(meta.payload?.['status'])) return;
        await emitRunsCompleted(kind, keysOf(meta), await context());
      }),
    );
  }

  // The signed-webhook operation shares one read of the subscriptions between runs for a moment: changes apply at once.
  for (const kind of ['create', 'update', 'delete'] as const) action(`webhook_subscriptions.items.${kind}`, () => forgetSubscriptions());
  // The secret reads back as Directus's mask: a client sending the mask back must not make it the secret. Event types
  // and URLs the step could not honour are refused when written (subscription-guard).
  const subscriptions = subscriptionGuard(database);
  for (const kind of ['create', 'update'] as const) {
    filter(`webhook_subscriptions.items.${kind}`, (payload, _meta, ctx) => subscriptions(keepMaskOutOfSecret(payload as Record<string, unknown>, kind), kind, (ctx as Ctx)?.accountability));
  }

  // Values the columns of Pitwall's collections would refuse (text that is no uuid, number, JSON or time) get a 400
  // naming the field rather than Postgres's 500 (column-values). Registered after the guards above, so that the
  // fields those check keep their own messages; the rest of each row is checked here.
  const columns = columnGuard(database);
  for (const collection of pitwallCollectionNames) {
    for (const write of ['create', 'update'] as const) {
      filter(`${collection}.items.${write}`, (payload, _meta, ctx) =>
        columns(collection, write, payload as Record<string, unknown>, (ctx as Ctx)?.schema, (ctx as Ctx)?.accountability),
      );
    }
  }

  // Events a crash left between a commit and their publication, and webhook retry chains a stop or crash cut short.
  // Safe on any number of Directus instances at once: each step claims its rows in Postgres (FOR UPDATE SKIP LOCKED,
  // chain leases on the database's clock), so two sweeps never publish one event or run one chain twice. With
  // SYNCHRONIZATION_STORE=redis, Directus runs each tick of `schedule` on one instance only (its synchronized clock);
  // whichever instance is alive takes the next tick, so none is special.
  const dispatch = dispatchContextFrom({ services, database, getSchema, logger, env });
  const sweep = () => {
    // A stopping process starts nothing new: the next instance's sweep takes what is left.
    if (isDraining()) return;
    guard('publishing pending race events', async () => publishPendingSafely({ ...(await context()), accountability: null }));
    guard('resuming webhook deliveries', () => resumeStaleChains(dispatch));
  };
  drainBeforePoolCloses(database, logger);
  init('app.after', () => logger.info(`${BUNDLE_NAME} ${BUNDLE_VERSION}: hook loaded`));
  // Race events are handed to Flows on the emitter they listen on, learnt here (flow-handover), so the first sweep
  // comes after it.
  action('server.start', function onServerStart(this: unknown) {
    learnFlowEmitter(this, 'server.start', onServerStart);
    if (!handsOverToFlows()) logger.warn('pitwall: this Directus does not let race events be handed to Flows and waited for; a crash may cut their Flow runs short');
    sweep();
  });
  schedule(SWEEP_CRON, sweep);
});
