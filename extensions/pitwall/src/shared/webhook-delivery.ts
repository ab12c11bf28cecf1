import { redactUrl } from '../../../../src/domain/webhooks/redact-url.ts';
import { signWebhook, SIGNATURE_HEADER } from '../../../../src/domain/webhooks/sign-webhook.ts';
import { retryDelay } from '../../../../src/domain/webhooks/retry-delay.ts';
import { addressListFrom, denyListFrom } from './address-policy.ts';
import { drainAwareSleep, isDraining } from './delivery-drain.ts';
import { parsedOrText } from './json-text.ts';
import { DeniedAddressError, guardedPostFor, UnsupportedUrlError, type Post } from './guarded-post.ts';

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
  /**
   * Why nothing can be sent to this target (its secret cannot be decrypted, say): the chain records one failed
   * attempt with this reason instead of sending.
   */
  unusable?: string;
}

export interface DeliveryPolicy {
  maxAttempts: number;
  timeoutMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /**
   * The whole retry chain of one subscriber ends within this many ms of its first attempt: no wait or attempt runs
   * past it (an attempt's timeout is cut to what is left), so a Flow run is never held for minutes.
   */
  deadlineMs: number;
}

/** A retry starts only with at least this much of the window left (or the whole timeout, when shorter). */
const MIN_LAST_TIMEOUT_MS = 1000;

export const DEFAULT_POLICY: DeliveryPolicy = { maxAttempts: 12, timeoutMs: 10_000, baseDelayMs: 1_000, maxDelayMs: 15_000, deadlineMs: 60_000 };

export type Outcome = 'delivered' | 'retrying' | 'failed';
/** How a chain ended here: `interrupted` when this process began stopping between attempts (it is resumed elsewhere). */
export type ChainEnd = 'delivered' | 'failed' | 'interrupted';

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
  /** Sends one POST; rejects with DeniedAddressError / UnsupportedUrlError (final) or any other error (retried). */
  post: Post;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  nowMs: () => number;
  /** Stores one attempt; a failure to store is the caller's to log, never a reason to stop delivering. */
  record: (row: AttemptRecord) => Promise<void>;
  /** True once this process is stopping: no further attempt starts. */
  stopping: () => boolean;
  /**
   * The target as it is now, read before each retry; undefined once it is gone (a subscription deleted). An
   * organiser who switches off, re-points or deletes a subscription while its retries are under way (a leaked
   * endpoint, an integrator let go) must not have the rest of the chain sent to the old URL with the old secret.
   */
  current?: () => Promise<WebhookTarget | undefined>;
}

/** Directus's env values that decide where a webhook may go (arrays or strings, as Directus hands them over). */
export interface AddressEnv {
  ipDenyList: unknown;
  allowList: unknown;
}

/**
 * Real I/O: the POST refuses what `IMPORT_IP_DENY_LIST` denies and, unless `PITWALL_WEBHOOK_ALLOW_LIST` allows them,
 * private and special-purpose addresses (see address-policy); waits end early when the process starts stopping.
 */
export const defaultDeps = (record: DeliveryDeps['record'], addresses: AddressEnv): DeliveryDeps => ({
  post: guardedPostFor({ importDenyList: denyListFrom(addresses.ipDenyList), allowList: addressListFrom(addresses.allowList) }),
  sleep: drainAwareSleep,
  random: Math.random,
  nowMs: Date.now,
  record,
  stopping: isDraining,
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

/** Errors that another attempt cannot change: the URL is refused before anything is sent. */
const isFinalError = (error: Error): boolean => error instanceof DeniedAddressError || error instanceof UnsupportedUrlError;

const describeError = (error: Error): string => {
  const cause = (error as { cause?: Error }).cause;
  return `${error.name}: ${error.message}${cause?.message ? ` (${cause.message})` : ''}`;
};

/**
 * An error as it may be recorded: our own messages name the URL redacted already; this also covers a library's or
 * a receiver's text that echoes the URL or its password.
 */
function withoutCredentials(text: string, url: string): string {
  let out = text.replaceAll(url, redactUrl(url));
  try {
    const { username, password } = new URL(url);
    for (const part of [password, decodeURIComponent(password), username, decodeURIComponent(username)]) {
      if (part.length >= 3) out = out.replaceAll(part, '***');
    }
  } catch {
    // Not a URL: nothing more to find in it.
  }
  return out;
}

/**
 * Delivers one event to one target, retrying with exponential backoff and full jitter, at most
 * `policy.maxAttempts` times and within `policy.deadlineMs`. Each attempt is recorded with the outcome known at
 * that moment: `retrying` only when another attempt will really follow. A chain resumed after a restart starts at
 * `firstAttempt` with a fresh window. Once `deps.stopping()` no attempt starts and the chain ends `interrupted`.
 */
export async function deliver(
  first: WebhookTarget,
  event: RaceEventLike,
  policy: DeliveryPolicy,
  deps: DeliveryDeps,
  firstAttempt = 1,
): Promise<ChainEnd> {
  const body = webhookBody(event);
  const unusable = (target: WebhookTarget, attempt: number) =>
    deps.record({ subscription: target.subscription, race_event: event.id, attempt, status_code: null, outcome: 'failed', error: target.unusable!, duration_ms: 0 });
  let target = first;
  if (target.unusable !== undefined) {
    await unusable(target, firstAttempt);
    return 'failed';
  }
  const deadline = deps.nowMs() + policy.deadlineMs;
  for (let attempt = firstAttempt; attempt <= policy.maxAttempts; attempt++) {
    if (deps.stopping()) return 'interrupted';
    if (attempt > firstAttempt && deps.current) {
      const now = await deps.current();
      if (now === undefined) return 'failed';
      target = now;
      if (target.unusable !== undefined) {
        await unusable(target, attempt);
        return 'failed';
      }
    }
    const started = deps.nowMs();
    const timeoutMs = Math.max(1, Math.min(policy.timeoutMs, deadline - started));
    let status: number | null = null;
    let error: string | null = null;
    let final = false;
    try {
      const res = await deps.post(target.url, {
        headers: webhookHeaders(body, event.id, target.secret, attempt, Math.floor(started / 1000)),
        body,
        timeoutMs,
      });
      status = res.status;
      if (status < 200 || status >= 300) error = `HTTP ${status}${res.text ? `: ${res.text.slice(0, 500)}` : ''}`;
    } catch (err) {
      const e = err as Error;
      final = isFinalError(e);
      error = e.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : describeError(e);
    }
    const ok = status !== null && status >= 200 && status < 300;
    const delay = retryDelay(attempt, Math.min(deps.random(), 0.999999), { baseMs: policy.baseDelayMs, maxMs: policy.maxDelayMs });
    const another = !ok && !final && isRetryable(status) && attempt < policy.maxAttempts;
    // A retry is promised only if it can start in time with a fair timeout; otherwise this attempt is the last.
    const inTime = deps.nowMs() + delay + Math.min(policy.timeoutMs, MIN_LAST_TIMEOUT_MS) <= deadline;
    const outcome: Outcome = ok ? 'delivered' : another && inTime ? 'retrying' : 'failed';
    if (another && !inTime) error = `${error}; gave up: the ${policy.deadlineMs} ms delivery window is over`;
    if (error !== null) error = withoutCredentials(error, target.url);
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
    await deps.sleep(delay);
  }
  return 'failed';
}

/**
 * Subscription rows that want this event type: active and `event_types` empty/null or containing it. A value the
 * subscription guard refuses (one stored before it) wants nothing, so a filter gone wrong never sends everything;
 * except a bare type name, which plainly means that one type.
 */
export function wantsEvent(sub: { active?: boolean | null; event_types?: unknown }, type: string): boolean {
  if (sub.active === false) return false;
  const types = typeof sub.event_types === 'string' ? parsedOrText(sub.event_types) : sub.event_types;
  if (types === null || types === undefined) return true;
  if (typeof types === 'string') return types === type;
  if (!Array.isArray(types)) return false;
  return types.length === 0 || types.includes(type);
}

/**
 * Why a signed webhook step in subscriptions mode sends an event to no one, for its output in the Flow's log, or null
 * when some subscription wants it. An admin who built the Flow before any integrator subscribed saw a step that
 * succeeded with `subscriptions: 0` and a canvas saying "Webhook subscriptions", and took the webhook for live.
 */
export function noTargetNote(active: readonly { url?: unknown; active?: boolean | null; event_types?: unknown }[], type: string): string | null {
  if (active.some((row) => row.url && wantsEvent(row, type))) return null;
  if (active.length === 0) return 'nothing sent: no row of Webhook Subscriptions is active';
  return `nothing sent: none of the ${active.length} active Webhook Subscriptions wants ${type} events (their event types)`;
}
