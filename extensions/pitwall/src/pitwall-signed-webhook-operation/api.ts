import { defineOperationApi } from '@directus/extensions-sdk';
import {
  DEFAULT_POLICY,
  defaultDeps,
  deliver,
  wantsEvent,
  type AttemptRecord,
  type DeliveryPolicy,
  type RaceEventLike,
  type WebhookTarget,
} from '../shared/webhook-delivery';

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
 * Sends one race event, signed, to every active `webhook_subscriptions` row that wants its type (or to the single
 * URL of the options), each subscriber independently, and records each attempt in `webhook_deliveries`.
 *
 * The run awaits every subscriber's retries before returning. That is bounded: at most
 * max_attempts × timeout_ms plus the backoff (each delay ≤ max_delay_ms), about 90 s with the defaults, and it
 * holds up nothing else: Event Hook "action" Flows run after the item is stored, and subscribers run side by side.
 * Awaiting keeps the returned counts true and the Flow's log complete.
 */
export default defineOperationApi<SignedWebhookOptions>({
  id: 'pitwall-signed-webhook',
  handler: async (options, { data, services, database, getSchema, logger }) => {
    const event = raceEventFrom(options.event, data as Record<string, any>);
    const policy: DeliveryPolicy = {
      maxAttempts: num(options.max_attempts, DEFAULT_POLICY.maxAttempts, 1, 20),
      timeoutMs: num(options.timeout_ms, DEFAULT_POLICY.timeoutMs, 100, 60_000),
      baseDelayMs: num(options.base_delay_ms, DEFAULT_POLICY.baseDelayMs, 0, 60_000),
      maxDelayMs: num(options.max_delay_ms, DEFAULT_POLICY.maxDelayMs, 0, 5 * 60_000),
    };
    const schema = await getSchema({ database });
    const { ItemsService } = services;

    let targets: WebhookTarget[];
    if ((options.mode ?? 'subscriptions') === 'single') {
      if (!options.url || !options.secret) throw new SignedWebhookError('pitwall-signed-webhook: single mode needs a URL and a secret');
      targets = [{ subscription: null, url: String(options.url), secret: String(options.secret) }];
    } else {
      const subscriptions = new ItemsService('webhook_subscriptions', { knex: database, schema, accountability: null });
      const rows = (await subscriptions.readByQuery({
        filter: { active: { _eq: true } },
        fields: ['id', 'url', 'secret', 'event_types', 'active'],
        limit: -1,
      })) as { id: string | number; url: string; secret: string; event_types: unknown; active: boolean }[];
      targets = rows.filter((row) => row.url && row.secret && wantsEvent(row, event.type)).map((row) => ({ subscription: row.id, url: row.url, secret: row.secret }));
    }

    const deliveries = new ItemsService('webhook_deliveries', { knex: database, schema, accountability: null });
    const record = async (row: AttemptRecord) => {
      try {
        await deliveries.createOne(row as unknown as Record<string, unknown>, { emitEvents: false });
      } catch (error) {
        logger.warn(`pitwall-signed-webhook: could not record attempt ${row.attempt} for ${row.subscription ?? 'single URL'}: ${(error as Error).message}`);
      }
    };
    const deps = defaultDeps(record);
    const results = await Promise.allSettled(targets.map((target) => deliver(target, event, policy, deps)));

    const counts = { delivered: 0, failed: 0, retrying: 0, subscriptions: targets.length };
    for (const result of results) {
      if (result.status === 'fulfilled') counts[result.value] += 1;
      else {
        counts.failed += 1;
        logger.error(`pitwall-signed-webhook: delivery crashed: ${(result.reason as Error)?.message ?? result.reason}`);
      }
    }
    return counts;
  },
});
