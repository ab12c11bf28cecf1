import { defineOperationApi } from '@directus/extensions-sdk';
import type { OperationContext } from '@directus/types';
import { holdStopFor } from '../shared/delivery-drain';
import { HANDED_AGAIN } from '../shared/flow-handover';
import { dispatchContextFrom, dispatchEvent } from '../shared/webhook-chains';
import { DEFAULT_POLICY, noTargetNote, wantsEvent, type DeliveryPolicy, type RaceEventLike, type WebhookTarget } from '../shared/webhook-delivery';
import { subscriptionReader, type SubscriptionRow } from '../shared/webhook-store';

interface SignedWebhookOptions {
  mode?: 'subscriptions' | 'single';
  url?: string;
  secret?: string;
  /** The race_events item; Directus templates it (default `{{$trigger.payload}}`). */
  event?: unknown;
  max_attempts?: number | string;
  timeout_ms?: number | string;
  base_delay_ms?: number | string;
  max_delay_ms?: number | string;
  deadline_ms?: number | string;
}

export class SignedWebhookError extends Error {
  override name = 'SignedWebhookError';
}

const num = (value: unknown, fallback: number, min: number, max: number): number => {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : typeof value === 'number' ? value : NaN;
  return Number.isFinite(n) ? Math.min(max, Math.max(min, Math.floor(n))) : fallback;
};

function raceEventFrom(option: unknown, data: Record<string, any>): RaceEventLike {
  let event: any = option;
  if (typeof event === 'string') {
    const text = event.trim();
    if (text === '') event = undefined;
    else {
      try {
        event = JSON.parse(text);
      } catch {
        throw new SignedWebhookError('pitwall-signed-webhook: the "event" option is not JSON (expected the race_events item, e.g. {{$trigger.payload}})');
      }
    }
  }
  const trigger = data?.['$trigger'];
  if (event === undefined || event === null) event = trigger?.payload ?? trigger;
  if (!event || typeof event !== 'object') throw new SignedWebhookError('pitwall-signed-webhook: no race event to send (expected the race_events item, e.g. {{$trigger.payload}})');
  // An items.create trigger carries the new key beside the payload.
  const id = event.id ?? (event === trigger?.payload ? trigger?.key : undefined);
  if (!id || !event.type) throw new SignedWebhookError('pitwall-signed-webhook: the race event has no id or type; pass the race_events item (e.g. {{$trigger.payload}} of an items.create Event Hook on race_events)');
  return { ...event, id: String(id), type: String(event.type) };
}

/**
 * The targets with no attempt recorded for the event: the others were served by an earlier run (a chain still
 * under way is left alone by its key, see webhook-chains). A one-off URL counts as served once any one-off URL was.
 */
async function notServedYet(database: OperationContext['database'], eventId: string, targets: WebhookTarget[]): Promise<WebhookTarget[]> {
  const served = ((await database('webhook_deliveries').where('race_event', eventId).distinct('subscription')) as { subscription: string | null }[]).map((row) =>
    row.subscription === null ? null : String(row.subscription),
  );
  return targets.filter((target) => !served.includes(target.subscription === null ? null : String(target.subscription)));
}

/** A subscription row as a chain's target; one whose secret cannot be decrypted fails with the reason, unsent. */
const targetOf = (row: SubscriptionRow): WebhookTarget => ({
  subscription: row.id,
  url: row.url,
  secret: row.secret ?? '',
  ...(row.secret === null ? { unusable: row.secretProblem ?? 'the subscription has no secret' } : {}),
});

/**
 * Sends one race event, signed, to every active `webhook_subscriptions` row that wants its type (or to the single
 * URL of the options), and records each attempt in `webhook_deliveries`.
 *
 * Subscribers are served side by side, each with its own retry chain, so one failing integrator's backoff never
 * delays another. The run awaits every chain before returning (the counts it returns and the Flow's log stay true),
 * and that wait is bounded: each chain ends within `deadline_ms` of its first attempt (60 s by default, 5 minutes
 * at most), attempt timeouts included. Event Hook "action" Flows run after the item is stored, so nothing else
 * waits on it. A chain that a stop or a crash of Directus cuts short is resumed from its next attempt after the
 * restart (the hook's sweep); the counts then say `interrupted`. URLs that resolve to an address denied by
 * `IMPORT_IP_DENY_LIST` are refused, as Directus's own Webhook / Request URL operation refuses them, and so are
 * private and special-purpose addresses unless `PITWALL_WEBHOOK_ALLOW_LIST` allows them (see address-policy); each
 * is recorded as failed, its URL without credentials. The subscriptions are read once for the runs of a burst (at most once a second; a change made through
 * Directus applies at once, see the hook).
 */
export default defineOperationApi<SignedWebhookOptions>({
  id: 'pitwall-signed-webhook',
  // Held from its first step: a Directus stopping gracefully waits until this run's chains are open (and its
  // attempts under way answered), so an event handed to the Flow just before the stop is not lost with the pool.
  handler: (options, context: OperationContext) => holdStopFor(sendSigned(options, context)),
});

async function sendSigned(options: SignedWebhookOptions, { data, services, database, getSchema, logger, env }: OperationContext) {
  const event = raceEventFrom(options.event, data as Record<string, any>);
  const policy: DeliveryPolicy = {
    maxAttempts: num(options.max_attempts, DEFAULT_POLICY.maxAttempts, 1, 20),
    timeoutMs: num(options.timeout_ms, DEFAULT_POLICY.timeoutMs, 100, 60_000),
    baseDelayMs: num(options.base_delay_ms, DEFAULT_POLICY.baseDelayMs, 0, 60_000),
    maxDelayMs: num(options.max_delay_ms, DEFAULT_POLICY.maxDelayMs, 0, 5 * 60_000),
    deadlineMs: num(options.deadline_ms, DEFAULT_POLICY.deadlineMs, 1_000, 5 * 60_000),
  };

  let targets: WebhookTarget[];
  let note: string | null = null;
  if ((options.mode ?? 'subscriptions') === 'single') {
    if (!options.url || !options.secret) throw new SignedWebhookError('pitwall-signed-webhook: single mode needs a URL and a secret');
    targets = [{ subscription: null, url: String(options.url), secret: String(options.secret) }];
  } else {
    const rows = await subscriptionReader({ services, database, getSchema }).active();
    targets = rows.filter((row) => row.url && wantsEvent(row, event.type)).map(targetOf);
    note = noTargetNote(rows, event.type);
  }
  // An event handed to the Flows again (its publisher died before their runs ended): who has had it already.
  if ((data as Record<string, any>)?.['$trigger']?.[HANDED_AGAIN] === true) targets = await notServedYet(database, event.id, targets);

  // One durable chain per target: each attempt is recorded as it happens, and a chain a stop or crash cuts short
  // is resumed by the hook's sweep (see webhook-chains).
  const dispatch = dispatchContextFrom({ services, database, getSchema, logger, env: env ?? {} });
  const results = await dispatchEvent(dispatch, event, targets, policy);

  const counts = { delivered: 0, failed: 0, interrupted: 0, subscriptions: targets.length, ...(note === null ? {} : { note }) };
  for (const result of results) {
    if (result.status === 'fulfilled') counts[result.value] += 1;
    else {
      counts.failed += 1;
      logger.error(`pitwall-signed-webhook: delivery crashed: ${(result.reason as Error)?.message ?? result.reason}`);
    }
  }
  return counts;
}
