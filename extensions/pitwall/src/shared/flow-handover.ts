import { holdStopFor } from './delivery-drain';

/** An item action as ItemsService emits it, or hands it to `bypassEmitAction` instead. */
export interface ItemAction {
  event: string | string[];
  meta: Record<string, unknown>;
  context: unknown;
}

type Logger = { warn: (obj: unknown, msg?: string) => void };

type ActionEmitter = { emitAsync: (event: string, ...args: unknown[]) => Promise<unknown>; listeners: (event: string) => unknown[] };

/**
 * The action emitter Flows listen on: its `emitAsync` resolves once every listener, Flow runs among them, has. Kept
 * on the process: a bundle Directus reloads as a fresh module never sees `server.start` again.
 */
const learnt = ((globalThis as Record<symbol, unknown>)[Symbol.for('pitwall.flowEmitter')] ??= { actions: null }) as { actions: ActionEmitter | null };

/**
 * Learns the emitter Flows listen on, from the `this` of a hook's action handler (`handler`, registered with
 * Directus). Directus hands extensions a private emitter of their own, and its `emitAction` does not say when the
 * Flow runs it starts have ended; but it registers a hook's action handlers on its own emitter (an EventEmitter2),
 * which calls them with itself as `this`. Kept only when it holds that very handler.
 */
export function learnFlowEmitter(candidate: unknown, event: string, handler: unknown): void {
  const emitter = candidate as Partial<ActionEmitter> | undefined;
  if (typeof emitter?.emitAsync !== 'function' || typeof emitter.listeners !== 'function') return;
  if (emitter.listeners(event).includes(handler)) learnt.actions = emitter as ActionEmitter;
}

/**
 * Whether item actions can be handed to Flows here, and waited for. Until then (or on a Directus that calls hook
 * handlers otherwise) ItemsService emits them itself, and nobody can tell when the Flow runs end.
 */
export const handsOverToFlows = (): boolean => learnt.actions !== null;

/** ItemsService options that collect the item actions of a create instead of emitting them (`into`). */
export const collectingActions = (into: ItemAction[]): { bypassEmitAction?: (action: ItemAction) => void } =>
  learnt.actions ? { bypassEmitAction: (action) => into.push(action) } : {};

/** Marks an item action emitted again for an event whose first Flow runs may not have ended (flow `$trigger`). */
export const HANDED_AGAIN = 'pitwall_handed_again';

/** The `race_events.items.create` action of an event created earlier, for Flows to hear it again. */
export const createdAgain = (item: { id: string }, context: unknown): ItemAction => ({
  event: ['items.create', 'race_events.items.create'],
  meta: { payload: item, key: item.id, collection: 'race_events', [HANDED_AGAIN]: true },
  context,
});

/**
 * Emits item actions to their listeners, Flow runs among them, as Directus would; resolves once every one of them
 * has ended. Held, so that a graceful stop waits for them (bounded by the drain). Without the emitter (Directus
 * emitted the created items' actions itself), nothing is emitted.
 */
export function handToFlows(items: ItemAction[], logger?: Logger): Promise<void> {
  const emitter = learnt.actions;
  if (!emitter || items.length === 0) return Promise.resolve();
  const runs: Promise<unknown>[] = [];
  for (const { event, meta, context } of items) {
    for (const name of Array.isArray(event) ? event : [event]) {
      runs.push(emitter.emitAsync(name, { event: name, ...meta }, context).catch((err: unknown) => logger?.warn({ err }, `pitwall: a listener of "${name}" failed`)));
    }
  }
  return holdStopFor(Promise.all(runs).then(() => undefined));
}
