/**
 * The webhook subscriptions the signed-webhook operation reads for every race event, shared by the Flow runs of
 * this process: a burst of events (one batch of facts can publish a hundred, each its own run) costs one read.
 *
 * `webhook_subscriptions.secret` has Directus's `encrypt` special (setup sets it): Directus encrypts it at rest with
 * its SECRET, shows every user `**********`, keeps it out of revisions, and decrypts it only for a read as the system
 * (no accountability). Each decryption is a scrypt of about 40 ms, so this reads the rows as stored and asks Directus
 * to decrypt only a ciphertext it has not seen yet: a secret is decrypted once per change, not once per event.
 */
import type { ApiExtensionContext } from '@directus/types';
import { isDirectusCiphertext } from '../../../../src/setup/directus-encrypted.ts';

export interface SubscriptionRow {
  id: string | number;
  url: string;
  /** The clear secret; null when it cannot be decrypted (then `secretProblem` says why). */
  secret: string | null;
  secretProblem?: string;
  event_types: unknown;
  active: boolean;
}

type SubscriptionContext = Pick<ApiExtensionContext, 'services' | 'database' | 'getSchema'>;

const COLLECTION = 'webhook_subscriptions';
const FIELDS = ['id', 'url', 'secret', 'event_types', 'active'] as const;

/** How long a read of webhook_subscriptions serves later runs; the hook forgets it at once on any change. */
export const SUBSCRIPTIONS_TTL_MS = 1000;

let subscriptions: { loadedAt: number; rows: Promise<SubscriptionRow[]> } | null = null;
/** Directus's ciphertext -> the clear secret it decrypted to; emptied on any change to the subscriptions. */
const clearByCiphertext = new Map<string, string>();

export const UNDECRYPTABLE_SECRET =
  'the subscription\'s secret cannot be decrypted (was Directus\'s SECRET changed since it was set?): set the secret again';

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
  clearByCiphertext.clear();
}

type StoredRow = Omit<SubscriptionRow, 'secret' | 'secretProblem'> & { secret: string | null };

/**
 * Stored rows with their clear secrets. `decrypt` is Directus's decryption of the given subscriptions (a read as the
 * system); it is asked only for ciphertexts not seen yet, and its url is taken with the secret so the two match.
 */
export async function withClearSecrets(
  rows: StoredRow[],
  decrypt: (ids: (string | number)[]) => Promise<{ id: string | number; url: string; secret: string | null }[]>,
): Promise<SubscriptionRow[]> {
  const unknown = rows.filter((row) => row.secret && isDirectusCiphertext(row.secret) && !clearByCiphertext.has(row.secret));
  const decrypted = new Map<string, { url: string; secret: string | null }>();
  if (unknown.length > 0) {
    for (const row of await decrypt(unknown.map((r) => r.id))) decrypted.set(String(row.id), row);
  }
  return rows.map((row): SubscriptionRow => {
    const stored = row.secret;
    if (!stored) return { ...row, secret: null, secretProblem: 'the subscription has no secret' };
    // Stored before setup turned encryption on: clear text, used as it is until setup encrypts it.
    if (!isDirectusCiphertext(stored)) return { ...row, secret: stored };
    const known = clearByCiphertext.get(stored);
    if (known !== undefined) return { ...row, secret: known };
    const fresh = decrypted.get(String(row.id));
    if (!fresh?.secret) return { ...row, secret: null, secretProblem: UNDECRYPTABLE_SECRET };
    clearByCiphertext.set(stored, fresh.secret);
    return { ...row, url: fresh.url, secret: fresh.secret };
  });
}

/** Reads subscriptions as stored, with their secrets decrypted by Directus (see withClearSecrets). */
export function subscriptionReader({ services, database, getSchema }: SubscriptionContext) {
  const decrypt = async (ids: (string | number)[]) => {
    const items = new services.ItemsService(COLLECTION, { knex: database, schema: await getSchema({ database }), accountability: null });
    return (await items.readMany(ids, { fields: ['id', 'url', 'secret'] })) as { id: string | number; url: string; secret: string | null }[];
  };
  return {
    /** Every active subscription, shared between the runs of a burst (activeSubscriptions). */
    active: (): Promise<SubscriptionRow[]> =>
      activeSubscriptions(async () => withClearSecrets(await database(COLLECTION).where('active', true).select([...FIELDS]), decrypt)),
    /** One subscription, active or not, read now; undefined when it no longer exists. */
    byId: async (id: string | number): Promise<SubscriptionRow | undefined> => {
      const row = await database(COLLECTION).where('id', id).first([...FIELDS]);
      return row ? (await withClearSecrets([row], decrypt))[0] : undefined;
    },
  };
}
