import { signWebhook, SIGNATURE_HEADER } from '../../../../src/domain/webhooks/sign-webhook';
import { retryDelay } from '../../../../src/domain/webhooks/retry-delay';

/**
 * Signed delivery of one race event to one integrator, with bounded retries. Kept free of Directus so the
 * operation only wires it to `webhook_subscriptions` / `webhook_deliveries`.
 *
 * What an integrator receives (POST):
 *   content-type: application/json
 *   pitwall-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>   (fresh t on each attempt)
 *   pitwall-event-id: <race event id>          (same on every attempt: de-duplicate on it)
 *   pitwall-delivery-attempt: <1..max_attempts>
 *   body: {"id","type","version","occurred_at","source","event","entry","device_id","data": <race event payload>}
 */
export const EVENT_ID_HEADER = 'pitwall-event-id';
export const ATTEMPT_HEADER = 'pitwall-delivery-attempt';

export interface RaceEventLike {
  id: string;
  type: string;
  version?: number | null;
  occurred_at?: string | null;
  source?: string | null;
  event?: string | null;
  entry?: string | null;
  device_id?: string | null;
  payload?: unknown;
}

export interface WebhookTarget {
  /** webhook_subscriptions id; null for the operation's single URL mode. */
  subscription: string | number | null;
  url: string;
  secret: string;
}

export interface DeliveryPolicy {
  maxAttempts: number;
  timeoutMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_POLICY: DeliveryPolicy = { maxAttempts: 6, timeoutMs: 10_000, baseDelayMs: 1_000, maxDelayMs: 30_000 };

export type Outcome = 'delivered' | 'retrying' | 'failed';

export interface AttemptRecord {
  subscription: string | number | null;
  race_event: string;
  attempt: number;
  status_code: number | null;
  outcome: Outcome;
  error: string | null;
  duration_ms: number;
}

export interface DeliveryDeps {
  fetch: typeof fetch;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  nowMs: () => number;
  /** Stores one attempt; a failure to store is the caller's to log, never a reason to stop delivering. */
  record: (row: AttemptRecord) => Promise<void>;
}

export const defaultDeps = (record: DeliveryDeps['record']): DeliveryDeps => ({
  fetch: (...args) => fetch(...args),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
  nowMs: Date.now,
  record,
});

/** The JSON body integrators get; `data` is the race event's payload (see CONTRACTS section 4). */
export function webhookBody(event: RaceEventLike): string {
  return JSON.stringify({
    id: event.id,
    type: event.type,
    version: event.version ?? 1,
    occurred_at: event.occurred_at ?? null,
    source: event.source ?? null,
    event: event.event ?? null,
    entry: event.entry ?? null,
    device_id: event.device_id ?? null,
    data: event.payload ?? null,
  });
}

export function webhookHeaders(body: string, eventId: string, secret: string, attempt: number, timestampSeconds: number): Record<string, string> {
  return {
    'content-type': 'application/json',
    [SIGNATURE_HEADER]: signWebhook(body, secret, timestampSeconds),
    [EVENT_ID_HEADER]: eventId,
    [ATTEMPT_HEADER]: String(attempt),
  };
}

/** Timeouts, network errors, 408, 429 and 5xx are worth another try; any other non-2xx answer is final. */
export function isRetryable(status: number | null): boolean {
  return status === null || status === 408 || status === 429 || status >= 500;
}

/** Delivers one event to one target, retrying with bounded exponential backoff and full jitter. */
export async function deliver(target: WebhookTarget, event: RaceEventLike, policy: DeliveryPolicy, deps: DeliveryDeps): Promise<Outcome> {
  const body = webhookBody(event);
  for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
    const started = deps.nowMs();
    let status: number | null = null;
    let error: string | null = null;
    try {
      const res = await deps.fetch(target.url, {
        method: 'POST',
        headers: webhookHeaders(body, event.id, target.secret, attempt, Math.floor(deps.nowMs() / 1000)),
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(policy.timeoutMs),
      });
      status = res.status;
      // Drain (bounded) so the connection is released; keep a snippet for the delivery log.
      const text = await res.text().catch(() => '');
      if (!res.ok) error = `HTTP ${res.status}${text ? `: ${text.slice(0, 500)}` : ''}`;
    } catch (err) {
      const e = err as Error;
      error = e.name === 'TimeoutError' ? `timed out after ${policy.timeoutMs} ms` : `${e.name}: ${e.message}${(e as { cause?: Error }).cause ? ` (${(e as { cause?: Error }).cause!.message})` : ''}`;
    }
    const ok = status !== null && status >= 200 && status < 300;
    const outcome: Outcome = ok ? 'delivered' : isRetryable(status) && attempt < policy.maxAttempts ? 'retrying' : 'failed';
    await deps.record({
      subscription: target.subscription,
      race_event: event.id,
      attempt,
      status_code: status,
      outcome,
      error,
      duration_ms: Math.max(0, Math.round(deps.nowMs() - started)),
    });
    if (outcome !== 'retrying') return outcome;
    await deps.sleep(retryDelay(attempt, Math.min(deps.random(), 0.999999), { baseMs: policy.baseDelayMs, maxMs: policy.maxDelayMs }));
  }
  return 'failed';
}

/** Subscription rows that want this event type: active and `event_types` empty/null or containing it. */
export function wantsEvent(sub: { active?: boolean | null; event_types?: unknown }, type: string): boolean {
  if (sub.active === false) return false;
  const types = typeof sub.event_types === 'string' ? safeParse(sub.event_types) : sub.event_types;
  if (types === null || types === undefined) return true;
  if (!Array.isArray(types)) return true;
  return types.length === 0 || types.includes(type);
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
