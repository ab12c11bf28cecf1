/**
 * The webhook subscriptions the signed-webhook operation reads for every race event, shared by the Flow runs of
 * this process: a burst of events (one batch of facts can publish a hundred, each its own run) costs one read.
 */

export interface SubscriptionRow {
  id: string | number;
  name?: string | null;
  url: string;
  secret: string;
  event_types: unknown;
  active: boolean;
}

/** How long a read of webhook_subscriptions serves later runs; the hook forgets it at once on any change. */
export const SUBSCRIPTIONS_TTL_MS = 1000;

let subscriptions: { loadedAt: number; rows: Promise<SubscriptionRow[]> } | null = null;

/**
 * The active subscriptions, read through `load` at most once per SUBSCRIPTIONS_TTL_MS; runs that ask while a read
 * is under way share it. A failed read is not kept.
 */
export function activeSubscriptions(load: () => Promise<SubscriptionRow[]>, nowMs: number = Date.now()): Promise<SubscriptionRow[]> {
  if (subscriptions && nowMs - subscriptions.loadedAt < SUBSCRIPTIONS_TTL_MS) return subscriptions.rows;
  const entry = { loadedAt: nowMs, rows: load() };
  subscriptions = entry;
  entry.rows.catch(() => {
    if (subscriptions === entry) subscriptions = null;
  });
  return entry.rows;
}

/** A subscription was created, changed or deleted: the next run reads them again. */
export function forgetSubscriptions(): void {
  subscriptions = null;
}
