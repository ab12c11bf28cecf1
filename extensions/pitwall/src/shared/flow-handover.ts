import { holdStopFor } from './delivery-drain';

/** An item action ItemsService hands to `bypassEmitAction` instead of emitting it. */
interface ActionEvent {
  event: string | string[];
  meta: Record<string, unknown>;
  context: unknown;
}

export interface HandOverOptions {
  bypassEmitAction?: (action: ActionEvent) => void;
}

type Logger = { warn: (obj: unknown, msg?: string) => void };

type ActionEmitter = { emitAsync: (event: string, ...args: unknown[]) => Promise<unknown>; listeners: (event: string) => unknown[] };

/** The action emitter Flows listen on: its `emitAsync` resolves once every listener, Flow runs among them, has. */
let actions: ActionEmitter | null = null;

/**
 * An action handler for `server.start` that learns the emitter Flows listen on. Directus hands extensions a private
 * emitter of their own, and its `emitAction` does not say when the Flow runs it starts have ended; but it registers
 * a hook's action handlers on its own emitter (an EventEmitter2), which calls them with itself as `this`. Kept only
 * when it holds this very handler; without it (another Directus), Directus emits race events' actions as usual.
 */
export function learnFlowEmitter(this: unknown): void {
  const candidate = this as Partial<ActionEmitter> | undefined;
  if (typeof candidate?.emitAsync !== 'function' || typeof candidate.listeners !== 'function') return;
  if (candidate.listeners('server.start').includes(learnFlowEmitter)) actions = candidate as ActionEmitter;
}

/**
 * Runs an ItemsService create whose item actions (what Flows hear) are emitted here once it returns, as Directus
 * would emit them, and held so that a graceful stop waits for the Flow runs they start (bounded by the drain): a
 * race event handed to a Flow just before a stop still reaches its delivery chains.
 */
export async function createHandingOver<T>(create: (options: HandOverOptions) => Promise<T>, logger?: Logger): Promise<T> {
  const emitter = actions;
  if (!emitter) return create({});
  const heard: ActionEvent[] = [];
  const created = await create({ bypassEmitAction: (action) => heard.push(action) });
  for (const { event, meta, context } of heard) {
    for (const name of Array.isArray(event) ? event : [event]) {
      holdStopFor(
        emitter.emitAsync(name, { event: name, ...meta }, context).catch((err: unknown) => logger?.warn({ err }, `pitwall: a listener of "${name}" failed`)),
      );
    }
  }
  return created;
}
