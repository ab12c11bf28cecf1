/**
 * The work under way in this process that a graceful stop must let end: webhook deliveries, race event
 * publications and the signed-webhook runs Flows were handed. On SIGTERM Directus destroys its database pool almost
 * at once, while a Flow run may be about to open its delivery chains or waiting on an integrator's answer: an event
 * handed to a Flow must reach its chains, and an answered attempt must be recorded, or the event would be lost or
 * sent again after the restart. The hook holds the pool's destruction until `drainWorkUnderWay` returns.
 */
interface DrainState {
  underWay: Set<Promise<unknown>>;
  wakeUps: Set<() => void>;
  draining: boolean;
}

/**
 * Kept on the process, not the module: Directus reloads a bundle as a fresh module (an extension installed or
 * switched on), and the pool's wrapper the first load installed must still see the work the reloaded one starts.
 */
const state: DrainState = ((globalThis as Record<symbol, unknown>)[Symbol.for('pitwall.workUnderWay')] ??= {
  underWay: new Set(),
  wakeUps: new Set(),
  draining: false,
}) as DrainState;
const { underWay, wakeUps } = state;

export const isDraining = (): boolean => state.draining;

/** Holds a graceful stop until `work` ends; returns it unchanged. */
export function holdStopFor<T>(work: Promise<T>): Promise<T> {
  underWay.add(work);
  const forget = () => underWay.delete(work);
  work.then(forget, forget);
  return work;
}

/** Waits `ms`, or less once the process starts stopping (a chain waiting for its next attempt gives way at once). */
export function drainAwareSleep(ms: number): Promise<void> {
  if (state.draining) return Promise.resolve();
  return new Promise((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      wakeUps.delete(wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    wakeUps.add(wake);
  });
}

/**
 * Starts no more attempts, wakes the chains waiting between attempts, and waits for the work under way to end, at
 * most `maxMs`, including work that work under way starts meanwhile (a publication hands its events to Flow runs,
 * which open delivery chains). Returns how much was still running when the time was up.
 */
export async function drainWorkUnderWay(maxMs: number): Promise<number> {
  state.draining = true;
  for (const wake of [...wakeUps]) wake();
  const deadline = Date.now() + maxMs;
  while (underWay.size > 0 && Date.now() < deadline) {
    let timer: NodeJS.Timeout | undefined;
    const timeUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, deadline - Date.now())));
    await Promise.race([Promise.allSettled([...underWay]), timeUp]);
    clearTimeout(timer);
    // What just ended may have started more in its continuations: let them run before looking again.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return underWay.size;
}

/** Tests only: back to a running process. */
export function resetDrainForTests(): void {
  state.draining = false;
}
