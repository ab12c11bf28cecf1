import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { retryDelay } from '../../../../src/domain/webhooks/retry-delay.ts';
import { signWebhook } from '../../../../src/domain/webhooks/sign-webhook.ts';
import { verifyWebhook } from '../../../../src/domain/webhooks/verify-webhook.ts';

const body = JSON.stringify({ id: 'e1', type: 'anomaly.detected' });
const secret = 'whsec_test_0123456789';

describe('signWebhook', () => {
  it('signs "<t>.<body>" with HMAC-SHA256', () => {
    const expected = createHmac('sha256', secret).update(`1795822000.${body}`).digest('hex');
    expect(signWebhook(body, secret, 1795822000)).toBe(`t=1795822000,v1=${expected}`);
  });

  it('refuses an empty secret and a fractional timestamp', () => {
    expect(() => signWebhook(body, '', 1)).toThrow('signWebhook: the secret is empty');
    expect(() => signWebhook(body, secret, 1.5)).toThrow('signWebhook: timestamp must be whole seconds, got 1.5');
  });
});

describe('verifyWebhook', () => {
  const header = signWebhook(body, secret, 1795822000);

  it('accepts its own signature within the tolerance', () => {
    expect(verifyWebhook(body, header, secret, 1795822100)).toEqual({ ok: true, timestampSeconds: 1795822000 });
  });

  it.each([
    ['a changed body', body.replace('e1', 'e2'), header, secret, 1795822000, 'signature does not match'],
    ['another secret', body, header, 'whsec_other', 1795822000, 'signature does not match'],
    ['an old delivery', body, header, secret, 1795822000 + 301, 'timestamp outside the tolerance'],
    ['no header', body, undefined, secret, 1795822000, 'no signature header'],
    ['a garbled header', body, 'v1=abc', secret, 1795822000, 'malformed signature header'],
  ])('refuses %s', (_name, b, h, s, now, reason) => {
    expect(verifyWebhook(b, h, s, now)).toEqual({ ok: false, reason });
  });

  it('round-trips for any body and secret (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ minLength: 1 }), fc.integer({ min: 0, max: 2 ** 31 }), (b, s, t) => {
        expect(verifyWebhook(b, signWebhook(b, s, t), s, t).ok).toBe(true);
      }),
    );
  });
});

describe('retryDelay', () => {
  it('grows exponentially from the base and stops at the cap', () => {
    const ceilings = [1, 2, 3, 4, 10, 20].map((attempt) => retryDelay(attempt, 0.999999, { baseMs: 1000, maxMs: 60_000 }));
    expect(ceilings).toEqual([999, 1999, 3999, 7999, 59999, 59999]);
  });

  it('spreads retries over [ceiling / 2, ceiling) with the jitter given, so that they use the time they are given', () => {
    expect(retryDelay(3, 0, { baseMs: 1000 })).toBe(2000);
    expect(retryDelay(3, 0.5, { baseMs: 1000 })).toBe(3000);
    // With the defaults of the Signed webhook step (12 attempts, 1 s, 15 s cap), the least the eleven retries can wait
    // adds up to its 60 s window: it is the window that ends a chain, not the count; and at their longest, the first six
    // take 45 s, so the seventh attempt comes when a receiver restarted in 40 s is back.
    const waits = (random: number, n: number) => Array.from({ length: n }, (_, i) => retryDelay(i + 1, random, { baseMs: 1000, maxMs: 15_000 })).reduce((sum, ms) => sum + ms, 0);
    expect(waits(0, 11)).toBeGreaterThanOrEqual(60_000);
    expect(waits(0.999999, 6)).toBeLessThanOrEqual(45_000);
    expect(waits(0, 6)).toBeGreaterThanOrEqual(22_500);
  });

  it('refuses attempts below 1 and randomness outside [0, 1)', () => {
    expect(() => retryDelay(0, 0.5)).toThrow('retryDelay: attempt must be 1 or more, got 0');
    expect(() => retryDelay(1, 1)).toThrow('retryDelay: random must be in [0, 1), got 1');
  });
});
