import { InvalidPayloadError } from '@directus/errors';
import { MASKED_VALUE } from '../../../../src/setup/directus-encrypted.ts';

/**
 * Directus shows a subscription's secret as `**********`, so a client that sends back what it read (a revert to a
 * revision, "Save as copy", a script that PATCHes the whole item) would make the mask the secret. On update the
 * stored secret is kept; a new subscription must be given a real one.
 */
export function keepMaskOutOfSecret(payload: Record<string, unknown>, action: 'create' | 'update'): Record<string, unknown> {
  if (payload?.['secret'] !== MASKED_VALUE) return payload;
  if (action === 'create') {
    throw new InvalidPayloadError({ reason: `"secret" is the mask Directus shows for a stored secret (${MASKED_VALUE}); set the new subscription's own secret` });
  }
  const { secret: _kept, ...rest } = payload;
  return rest;
}
