import { createHash } from 'node:crypto';
import type { ApiExtensionContext } from '@directus/types';
import { trackDelivery } from './delivery-drain';
import { defaultDeps, deliver, type AttemptRecord, type ChainEnd, type DeliveryPolicy, type RaceEventLike, type WebhookTarget } from './webhook-delivery';

/**
 * Durable retry chains for the signed webhook (table `pitwall_webhook_chains`, migration 006). A chain is opened
 * before its first attempt; each attempt is recorded in `webhook_deliveries` by the same statement that moves the
 * chain on, and the chain's row goes with its last attempt. The row holds the target's URL and secret, as
 * `webhook_subscriptions` does, so a resumed chain signs as the first attempt did. So a Directus that stops between
 * attempts, or dies, leaves the row behind and the next sweep resumes the chain where it stopped: an event is never
 * dropped because the process that owed it an attempt went away.
 */
export const CHAINS_TABLE = 'pitwall_webhook_chains';

/** A chain's lease covers its whole retry window and the last attempt's answer; after that its process is gone. */
const LEASE_MARGIN_MS = 15_000;
const RESUME_BATCH = 100;
const FOREIGN_KEY_VIOLATION = '23503';

export interface DispatchContext {
  database: ApiExtensionContext['database'];
  logger: { warn: (msg: string) => void };
  ipDenyList: unknown;
}

interface ChainRow {
  race_event: string;
  target_key: string;
  target: WebhookTarget;
  event: RaceEventLike;
  policy: DeliveryPolicy;
  attempts: number;
}

/** One chain per event and subscription (or single URL): a second Flow run for the same pair joins nothing. */
export const targetKey = (target: WebhookTarget): string =>
  target.subscription !== null ? `subscription:${target.subscription}` : `url:${createHash('sha256').update(target.url).digest('hex').slice(0, 32)}`;

const leaseUntil = (policy: DeliveryPolicy, nowMs = Date.now()) => new Date(nowMs + policy.deadlineMs + LEASE_MARGIN_MS);

/** Opens a chain for each target that has none under way for this event; returns the targets it opened. */
async function openChains(db: DispatchContext['database'], event: RaceEventLike, targets: WebhookTarget[], policy: DeliveryPolicy): Promise<WebhookTarget[]> {
  if (targets.length === 0) return [];
  const byKey = new Map(targets.map((target) => [targetKey(target), target]));
  const rows = [...byKey].map(([key, target]) => ({
    race_event: event.id,
    target_key: key,
    target: JSON.stringify(target),
    event: JSON.stringify(event),
    policy: JSON.stringify(policy),
    lease_until: leaseUntil(policy),
  }));
  const opened = (await db(CHAINS_TABLE).insert(rows).onConflict(['race_event', 'target_key']).ignore().returning('target_key')) as { target_key: string }[];
  return opened.map((row) => byKey.get(row.target_key)!);
}

/** Chains whose lease ran out (their process stopped or died), oldest first, leased now to this process. */
async function claimStaleChains(db: DispatchContext['database'], limit: number): Promise<ChainRow[]> {
  const { rows } = await db.raw(
    `UPDATE ${CHAINS_TABLE} c
        SET lease_until = now() + ((c.policy->>'deadlineMs')::bigint + ?) * interval '1 millisecond'
      WHERE (c.race_event, c.target_key) IN (
              SELECT race_event, target_key FROM ${CHAINS_TABLE}
               WHERE lease_until < now() ORDER BY created_at LIMIT ? FOR UPDATE SKIP LOCKED)
      RETURNING c.race_event, c.target_key, c.target, c.event, c.policy, c.attempts`,
    [LEASE_MARGIN_MS, limit],
  );
  return rows as ChainRow[];
}

/**
 * One statement, so one round trip and atomic: the attempt's `webhook_deliveries` row, and the chain moved on to it
 * (or ended with it). Plain SQL rather than ItemsService: this is the delivery log the operation keeps, written
 * without events or permissions either way, and at a hundred events a second ItemsService's payload processing
 * was a tenth of Directus's CPU.
 */
async function recordAttempt(db: DispatchContext['database'], row: AttemptRecord, key: { race_event: string; target_key: string }): Promise<void> {
  const step =
    row.outcome === 'retrying'
      ? `UPDATE ${CHAINS_TABLE} SET attempts = :attempt WHERE race_event = :race_event AND target_key = :target_key`
      : `DELETE FROM ${CHAINS_TABLE} WHERE race_event = :race_event AND target_key = :target_key`;
  await db.raw(
    `WITH step AS (${step})
     INSERT INTO webhook_deliveries (id, subscription, race_event, attempt, status_code, outcome, error, duration_ms, created_at)
     VALUES (gen_random_uuid(), :subscription, :race_event, :attempt, :status_code, :outcome, :error, :duration_ms, now())`,
    { ...row, subscription: row.subscription === null ? null : String(row.subscription), ...key },
  );
}

/**
 * Runs one chain from `firstAttempt`: each attempt's record and the chain's step are one statement. A chain
 * interrupted by a stop is handed back (lease ended) so the next Directus resumes it at once.
 */
async function runChain(context: DispatchContext, event: RaceEventLike, target: WebhookTarget, policy: DeliveryPolicy, firstAttempt: number): Promise<ChainEnd> {
  const { database, logger } = context;
  const key = { race_event: event.id, target_key: targetKey(target) };
  if (firstAttempt > policy.maxAttempts) {
    await database(CHAINS_TABLE).where(key).delete();
    return 'failed';
  }
  const record = async (row: AttemptRecord) => {
    try {
      await recordAttempt(database, row, key);
    } catch (error) {
      logger.warn(`pitwall-signed-webhook: could not record attempt ${row.attempt} for ${row.subscription ?? 'single URL'}: ${(error as Error).message}`);
      // No such race event (deleted, or an event a Flow made up): nothing to keep a record of or to resume.
      if ((error as { code?: string }).code === FOREIGN_KEY_VIOLATION) await database(CHAINS_TABLE).where(key).delete();
      // Otherwise the chain keeps its lease and resumes after it: the attempt may be sent again, never lost.
    }
  };
  const end = await deliver(target, event, policy, defaultDeps(record, context.ipDenyList), firstAttempt);
  if (end === 'interrupted') await database(CHAINS_TABLE).where(key).update({ lease_until: new Date(0) });
  return end;
}

/** Sends an event to its targets, one durable chain each, side by side; resolves when every chain has ended here. */
export async function dispatchEvent(context: DispatchContext, event: RaceEventLike, targets: WebhookTarget[], policy: DeliveryPolicy): Promise<PromiseSettledResult<ChainEnd>[]> {
  const opened = await openChains(context.database, event, targets, policy);
  return Promise.allSettled(opened.map((target) => trackDelivery(runChain(context, event, target, policy, 1))));
}

/** Resumes the chains that stopped or crashed processes left, from their next attempt. Returns how many it took. */
export async function resumeStaleChains(context: DispatchContext): Promise<number> {
  let resumed = 0;
  for (;;) {
    const chains = await claimStaleChains(context.database, RESUME_BATCH);
    resumed += chains.length;
    // Not awaited: a chain may wait a minute between attempts, and the sweep must not hold the next claim.
    for (const chain of chains) {
      trackDelivery(runChain(context, chain.event, chain.target, chain.policy, chain.attempts + 1)).catch((error) =>
        context.logger.warn(`pitwall-signed-webhook: resumed delivery of ${chain.race_event} crashed: ${(error as Error).message}`),
      );
    }
    if (chains.length < RESUME_BATCH) return resumed;
  }
}
