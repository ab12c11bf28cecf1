import { createHash } from 'node:crypto';
import type { ApiExtensionContext } from '@directus/types';
import { ALLOW_LIST_VARIABLE } from './address-policy';
import { holdStopFor } from './delivery-drain';
import { isSealed, seal, sealingKey, unseal, UnsealError } from './sealed-text';
import { defaultDeps, deliver, type AddressEnv, type AttemptRecord, type ChainEnd, type DeliveryPolicy, type RaceEventLike, type WebhookTarget } from './webhook-delivery';
import { subscriptionReader, type SubscriptionRow } from './webhook-store';

/**
 * Durable retry chains for the signed webhook (table `pitwall_webhook_chains`, migration 006). A chain is opened
 * before its first attempt; each attempt is recorded in `webhook_deliveries` by the same statement that moves the
 * chain on, and the chain's row goes with its last attempt. So a Directus that stops between attempts, or dies,
 * leaves the row behind and the next sweep, on any Directus instance, resumes the chain where it stopped: an event is
 * never dropped because the process that owed it an attempt went away.
 *
 * A chain's row never holds a secret in clear: for a subscription it keeps only the subscription's id, and a resumed
 * chain reads the URL and secret the subscription has then (so a secret replaced meanwhile is the one used); the
 * Flow's one-off URL and secret (single mode) are sealed with a key derived from Directus's SECRET (sealed-text).
 */
export const CHAINS_TABLE = 'pitwall_webhook_chains';

/** A chain's lease covers its whole retry window and the last attempt's answer; after that its process is gone. */
const LEASE_MARGIN_MS = 15_000;
const RESUME_BATCH = 100;
const FOREIGN_KEY_VIOLATION = '23503';
/** What a single-URL target's seal is bound to: it opens nowhere else. */
const SEAL_CONTEXT = `${CHAINS_TABLE}.target`;

export interface DispatchContext {
  database: ApiExtensionContext['database'];
  logger: { warn: (msg: string) => void };
  /** Where a webhook may connect: IMPORT_IP_DENY_LIST and PITWALL_WEBHOOK_ALLOW_LIST as Directus hands them over. */
  addresses: AddressEnv;
  /** Seals and opens single-URL targets in their chain rows. */
  sealKey: Buffer;
  /** A subscription as it is now, its secret decrypted; undefined once deleted. */
  subscription: (id: string | number) => Promise<SubscriptionRow | undefined>;
}

type DirectusContext = Pick<ApiExtensionContext, 'services' | 'database' | 'getSchema' | 'env'> & { logger: DispatchContext['logger'] };

/** The dispatch context of an operation run or of the hook's sweep, from Directus's extension context. */
export function dispatchContextFrom(context: DirectusContext): DispatchContext {
  const { database, logger, env } = context;
  return {
    database,
    logger,
    addresses: { ipDenyList: env['IMPORT_IP_DENY_LIST'], allowList: env[ALLOW_LIST_VARIABLE] },
    sealKey: sealingKey(env['SECRET'], 'webhook chain target'),
    subscription: subscriptionReader(context).byId,
  };
}

/**
 * What a chain row keeps of its target. Rows written before secrets were kept out of this table hold
 * `{subscription, url, secret}`: they are still resumed, and rewritten once by the first sweep.
 */
type StoredTarget =
  | { subscription: string | number }
  | { subscription: null; sealed: string }
  | { subscription: string | number | null; url: string; secret: string };

interface ChainRow {
  race_event: string;
  target_key: string;
  target: StoredTarget;
  event: RaceEventLike;
  policy: DeliveryPolicy;
  attempts: number;
}

function storedTarget(target: WebhookTarget, key: Buffer): StoredTarget {
  if (target.subscription !== null) return { subscription: target.subscription };
  return { subscription: null, sealed: seal(JSON.stringify({ url: target.url, secret: target.secret }), key, SEAL_CONTEXT) };
}

/**
 * The target a chain sends to, as it is now (when resumed, and before each retry); undefined when its subscription
 * was deleted. A target that
 * can no longer be used (subscription switched off, secret or seal that cannot be opened) comes back `unusable`, so
 * the chain ends with one failed attempt that says why.
 */
async function resolveTarget(stored: StoredTarget, context: DispatchContext): Promise<WebhookTarget | undefined> {
  if ('url' in stored) return { subscription: stored.subscription, url: stored.url, secret: stored.secret };
  if (stored.subscription === null) {
    try {
      const { url, secret } = JSON.parse(unseal((stored as { sealed: string }).sealed, context.sealKey, SEAL_CONTEXT)) as { url: string; secret: string };
      return { subscription: null, url, secret };
    } catch (error) {
      const reason = error instanceof UnsealError ? error.message : 'sealed target is not readable';
      return { subscription: null, url: '', secret: '', unusable: `the one-off URL and secret of this chain cannot be read: ${reason}` };
    }
  }
  const row = await context.subscription(stored.subscription);
  if (!row) return undefined;
  const unusable = !row.active ? 'the subscription was switched off while its retries were under way' : row.secret === null ? row.secretProblem : undefined;
  return { subscription: row.id, url: row.url, secret: row.secret ?? '', ...(unusable ? { unusable } : {}) };
}

let legacyRowsSealed = false;

/** Chain rows left by a version that kept URL and secret in clear: rewritten to what this version keeps. */
async function sealLegacyRows(context: DispatchContext): Promise<void> {
  if (legacyRowsSealed) return;
  const rows = (await context.database(CHAINS_TABLE).whereRaw("target->>'secret' IS NOT NULL").select('race_event', 'target_key', 'target')) as Pick<ChainRow, 'race_event' | 'target_key' | 'target'>[];
  for (const row of rows) {
    const target = row.target as WebhookTarget;
    await context.database(CHAINS_TABLE)
      .where({ race_event: row.race_event, target_key: row.target_key })
      .update({ target: JSON.stringify(storedTarget(target, context.sealKey)) });
  }
  legacyRowsSealed = true;
}

/** One chain per event and subscription (or single URL): a second Flow run for the same pair joins nothing. */
export const targetKey = (target: WebhookTarget): string =>
  target.subscription !== null ? `subscription:${target.subscription}` : `url:${createHash('sha256').update(target.url).digest('hex').slice(0, 32)}`;

/**
 * A chain's lease, on the database's clock, which the claim below reads too: with several Directus instances, one on
 * a host whose clock runs behind would otherwise write leases that have already ended for the others.
 */
const leaseUntil = (db: DispatchContext['database'], policy: DeliveryPolicy) =>
  db.raw(`now() + ?::bigint * interval '1 millisecond'`, [policy.deadlineMs + LEASE_MARGIN_MS]);

/** Opens a chain for each target that has none under way for this event; returns the targets it opened. */
async function openChains(context: DispatchContext, event: RaceEventLike, targets: WebhookTarget[], policy: DeliveryPolicy): Promise<WebhookTarget[]> {
  if (targets.length === 0) return [];
  const db = context.database;
  const byKey = new Map(targets.map((target) => [targetKey(target), target]));
  const rows = [...byKey].map(([key, target]) => ({
    race_event: event.id,
    target_key: key,
    target: JSON.stringify(storedTarget(target, context.sealKey)),
    event: JSON.stringify(event),
    policy: JSON.stringify(policy),
    lease_until: leaseUntil(db, policy),
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
async function runChain(context: DispatchContext, event: RaceEventLike, target: WebhookTarget, policy: DeliveryPolicy, firstAttempt: number, openedAs = targetKey(target)): Promise<ChainEnd> {
  const { database, logger } = context;
  const key = { race_event: event.id, target_key: openedAs };
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
  // A subscription's chain reads it again before each retry; one deleted meanwhile ends the chain, unrecorded (its
  // deliveries went with it).
  const current = async (): Promise<WebhookTarget | undefined> => {
    const now = await resolveTarget({ subscription: target.subscription! }, context);
    if (now === undefined) await database(CHAINS_TABLE).where(key).delete();
    return now;
  };
  const deps = { ...defaultDeps(record, context.addresses), ...(target.subscription !== null ? { current } : {}) };
  const end = await deliver(target, event, policy, deps, firstAttempt);
  if (end === 'interrupted') await database(CHAINS_TABLE).where(key).update({ lease_until: new Date(0) });
  return end;
}

/** Sends an event to its targets, one durable chain each, side by side; resolves when every chain has ended here. */
export async function dispatchEvent(context: DispatchContext, event: RaceEventLike, targets: WebhookTarget[], policy: DeliveryPolicy): Promise<PromiseSettledResult<ChainEnd>[]> {
  const opened = await openChains(context, event, targets, policy);
  return Promise.allSettled(opened.map((target) => holdStopFor(runChain(context, event, target, policy, 1))));
}

/** Resumes the chains that stopped or crashed processes left, from their next attempt. Returns how many it took. */
export async function resumeStaleChains(context: DispatchContext): Promise<number> {
  await sealLegacyRows(context);
  let resumed = 0;
  for (;;) {
    const chains = await claimStaleChains(context.database, RESUME_BATCH);
    resumed += chains.length;
    // Not awaited: a chain may wait a minute between attempts, and the sweep must not hold the next claim.
    for (const chain of chains) holdStopFor(resumeChain(context, chain)).catch((error) =>
      context.logger.warn(`pitwall-signed-webhook: resumed delivery of ${chain.race_event} crashed: ${(error as Error).message}`),
    );
    if (chains.length < RESUME_BATCH) return resumed;
  }
}

/** Resumes one chain with its target as it is now; a chain whose subscription was deleted just ends. */
async function resumeChain(context: DispatchContext, chain: ChainRow): Promise<ChainEnd> {
  const target = await resolveTarget(chain.target, context);
  if (!target) {
    await context.database(CHAINS_TABLE).where({ race_event: chain.race_event, target_key: chain.target_key }).delete();
    return 'failed';
  }
  // The row's key stays the one it was opened under (a subscription's URL may have changed since).
  return runChain(context, chain.event, target, chain.policy, chain.attempts + 1, chain.target_key);
}
