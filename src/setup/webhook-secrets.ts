import { readField, updateField, updateItem } from '@directus/sdk';
import type { Knex } from 'knex';
import type { AdminClient } from './directus-admin.ts';
import { isDirectusCiphertext, MASKED_VALUE } from './directus-encrypted.ts';
import { secretMeta } from './field-kinds.ts';

const COLLECTION = 'webhook_subscriptions';
const FIELD = 'secret';

/**
 * Brings a database set up before subscription secrets were encrypted to where a new one starts: the field gets
 * Directus's `encrypt` special (and the interface to set it), every secret stored in clear is saved again through
 * Directus so Directus encrypts it, and the clear secrets old revisions copied are replaced by Directus's mask, as
 * Directus itself records an encrypted field. Nothing to do on a database that is there already.
 */
export async function ensureEncryptedWebhookSecrets(client: AdminClient, db: Knex): Promise<string[]> {
  const done: string[] = [];
  const field = (await client.request(readField(COLLECTION, FIELD))) as { type: string; meta: { special?: string[] | null } | null };
  if (!field.meta?.special?.includes('encrypt')) {
    // text: the ciphertext of a 255-character secret would not fit a varchar(255).
    await client.request(updateField(COLLECTION, FIELD, { type: 'text', schema: {}, meta: secretMeta } as never));
    done.push(`encrypt ${COLLECTION}.${FIELD} (Directus encrypt special)`);
  }

  const rows = (await db(COLLECTION).whereNotNull(FIELD).select('id', FIELD)) as { id: string | number; secret: string }[];
  const clear = rows.filter((row) => row.secret !== '' && row.secret !== MASKED_VALUE && !isDirectusCiphertext(row.secret));
  for (const row of clear) await client.request(updateItem(COLLECTION, row.id, { secret: row.secret }));
  if (clear.length > 0) done.push(`encrypt ${clear.length} stored webhook secret${clear.length === 1 ? '' : 's'}`);

  const masked = await maskRevisions(db);
  if (masked > 0) done.push(`mask the webhook secret in ${masked} revision${masked === 1 ? '' : 's'}`);
  return done;
}

/** Revisions of subscriptions whose data or delta holds a secret other than the mask get the mask instead. */
async function maskRevisions(db: Knex): Promise<number> {
  const holds = (column: string) => `(${column}::jsonb ->> '${FIELD}') IS NOT NULL AND ${column}::jsonb ->> '${FIELD}' <> :mask`;
  const masked = (column: string) =>
    `CASE WHEN ${holds(column)} THEN jsonb_set(${column}::jsonb, '{${FIELD}}', to_jsonb(CAST(:mask AS text))) ELSE ${column}::jsonb END`;
  const result = await db.raw(
    `UPDATE directus_revisions SET data = ${masked('data')}, delta = ${masked('delta')}
      WHERE collection = :collection AND ((${holds('data')}) OR (${holds('delta')}))`,
    { mask: MASKED_VALUE, collection: COLLECTION },
  );
  return result.rowCount ?? 0;
}
