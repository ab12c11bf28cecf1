import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Authenticated encryption (AES-256-GCM) for the few secrets Pitwall itself must keep in its own tables, such as the
 * URL and secret of a Flow's one-off signed webhook in its durable retry chain. The key is derived with HKDF-SHA256
 * from Directus's `SECRET`, so every Directus of a deployment can open what another sealed, and nothing else needs
 * configuring. (Subscription secrets are encrypted by Directus itself: the field's `encrypt` special.)
 *
 * Kept free of Directus and of relative imports, so it is unit-tested from the root project as it is.
 */
export const SEALED_PREFIX = 'enc:v1:';

export class UnsealError extends Error {
  override name = 'UnsealError';
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Without SECRET, Directus itself uses a random one per process; so do we, and a restart cannot open old seals. */
let processKeyMaterial: Buffer | null = null;

/** The 32-byte key for `purpose`, derived from Directus's SECRET (env value as Directus hands it over). */
export function sealingKey(directusSecret: unknown, purpose: string): Buffer {
  const material = typeof directusSecret === 'string' || typeof directusSecret === 'number' ? String(directusSecret) : '';
  const ikm = material !== '' ? Buffer.from(material, 'utf8') : (processKeyMaterial ??= randomBytes(32));
  return Buffer.from(hkdfSync('sha256', ikm, 'pitwall', `pitwall ${purpose} v1`, 32));
}

/** `enc:v1:<base64url(iv | tag | ciphertext)>`; `context` is bound to it (a seal made for one use opens for no other). */
export function seal(clear: string, key: Buffer, context: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const text = Buffer.concat([cipher.update(clear, 'utf8'), cipher.final()]);
  return SEALED_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), text]).toString('base64url');
}

export const isSealed = (value: unknown): value is string => typeof value === 'string' && value.startsWith(SEALED_PREFIX);

/** The clear text of a seal; UnsealError when it is not one, was made with another key or context, or was altered. */
export function unseal(sealed: string, key: Buffer, context: string): string {
  if (!isSealed(sealed)) throw new UnsealError(`not sealed text (expected the ${SEALED_PREFIX} prefix)`);
  const raw = Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64url');
  if (raw.length < IV_BYTES + TAG_BYTES) throw new UnsealError('sealed text is truncated');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new UnsealError('sealed text cannot be opened with this key (was Directus\'s SECRET changed?) or was altered');
  }
}
