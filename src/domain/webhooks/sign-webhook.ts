import { createHmac } from 'node:crypto';

/** The header integrators read, in the style of the well-known payment-provider webhooks. */
export const SIGNATURE_HEADER = 'pitwall-signature';

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. Signing the timestamp with the body lets a receiver
 * refuse replays of an old delivery; `v1` names the scheme so a later one can be added beside it.
 */
export function signWebhook(body: string, secret: string, timestampSeconds: number): string {
  if (!secret) throw new Error('signWebhook: the secret is empty');
  if (!Number.isInteger(timestampSeconds) || timestampSeconds < 0) throw new Error(`signWebhook: timestamp must be whole seconds, got ${timestampSeconds}`);
  const digest = createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex');
  return `t=${timestampSeconds},v1=${digest}`;
}
