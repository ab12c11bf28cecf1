/**
 * The webhook deliveries under way in this process, so that a graceful stop lets them end cleanly. On SIGTERM
 * Directus destroys its database pool almost at once, while Flow runs may be waiting on an integrator's answer: an
 * attempt that was answered must still be recorded, or it would be sent again after the restart. The hook holds
 * the pool's destruction until `drainDeliveries` returns.
 */
const underWay = new Set<Promise<unknown>>();
const wakeUps = new Set<() => void>();
let draining = false;

export const isDraining = (): boolean => draining;

/** Follows a delivery until it ends; returns it unchanged. */
export function trackDelivery<T>(delivery: Promise<T>): Promise<T> {
  underWay.add(delivery);
  const forget = () => underWay.delete(delivery);
  delivery.then(forget, forget);
  return delivery;
}

/** Waits `ms`, or less once the process starts stopping (a chain waiting for its next attempt gives way at once). */
export function drainAwareSleep(ms: number): Promise<void> {
  if (draining) return Promise.resolve();
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
 * Starts no more attempts, wakes the chains waiting between attempts, and waits for every delivery under way to
 * end, at most `maxMs`. Returns how many were still running when the time was up.
 */
export async function drainDeliveries(maxMs: number): Promise<number> {
  draining = true;
  for (const wake of [...wakeUps]) wake();
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, maxMs)));
  await Promise.race([Promise.allSettled([...underWay]), timeUp]);
  clearTimeout(timer);
  return underWay.size;
}

/** Tests only: back to a running process. */
export function resetDrainForTests(): void {
  draining = false;
}
