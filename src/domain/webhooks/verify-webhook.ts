import { createHmac, timingSafeEqual } from 'node:crypto';

export type WebhookVerdict = { ok: true; timestampSeconds: number } | { ok: false; reason: string };

/**
 * What an integrator runs on each delivery (docs show it): the signature must match the raw body and the
 * timestamp must be recent, so neither a forged nor a replayed request is accepted.
 */
export function verifyWebhook(body: string, header: string | undefined, secret: string, nowSeconds: number, options: { toleranceSeconds?: number } = {}): WebhookVerdict {
  const { toleranceSeconds = 300 } = options;
  if (!header) return { ok: false, reason: 'no signature header' };
  const parts = new Map(header.split(',').map((part) => part.trim().split('=', 2) as [string, string]));
  const timestamp = Number(parts.get('t'));
  const given = parts.get('v1');
  if (!Number.isInteger(timestamp) || !given) return { ok: false, reason: 'malformed signature header' };
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) return { ok: false, reason: 'timestamp outside the tolerance' };
  const expected = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest();
  const actual = Buffer.from(given, 'hex');
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return { ok: false, reason: 'signature does not match' };
  return { ok: true, timestampSeconds: timestamp };
}
