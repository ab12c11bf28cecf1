import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/env.ts';
import { isCursor, parseClientMessage } from '../../../src/gateway/client-messages.ts';
import { loadGatewayConfig } from '../../../src/gateway/config.ts';
import { DirectusAccess, DirectusUnavailable } from '../../../src/gateway/directus-access.ts';
import { ConcurrencyLimit, LimitRefused, TokenBucket } from '../../../src/gateway/limits.ts';

const EVENT = '0b7e5a8c-3f7e-4a8b-9c1d-2e3f4a5b6c7d';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the request budget of a connection (token bucket)', () => {
  it('lets a burst through, then so many a second, and says how long until the next', () => {
    const bucket = new TokenBucket(3, 5, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([0, 0, 0]);
    expect(bucket.take(0)).toBe(200);
    expect(bucket.take(100)).toBe(100);
    expect(bucket.take(200)).toBe(0);
    expect(bucket.take(200)).toBe(200);
    // Refilled up to the burst, never beyond.
    expect(Array.from({ length: 4 }, () => bucket.take(60_000))).toEqual([0, 0, 0, 200]);
  });

  it('takes nothing away when the clock goes back', () => {
    const bucket = new TokenBucket(1, 1, 1000);
    expect(bucket.take(1000)).toBe(0);
    expect(bucket.take(500)).toBe(1000);
    expect(bucket.take(1500)).toBe(0);
  });
});

describe('the bound on lookups in flight', () => {
  it('runs at most so many at once, the rest in order, and refuses past the queue', async () => {
    const limit = new ConcurrencyLimit(2, 3, 5000);
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const task = (n: number) => async () => {
      running++;
      most = Math.max(most, running);
      await sleep(20);
      running--;
      order.push(n);
      return n;
    };
    const results = await Promise.allSettled([1, 2, 3, 4, 5, 6, 7].map((n) => limit.run(task(n))));
    expect(most).toBe(2);
    expect(results.slice(0, 5)).toEqual([1, 2, 3, 4, 5].map((value) => ({ status: 'fulfilled', value })));
    for (const refused of results.slice(5)) expect(refused).toMatchObject({ status: 'rejected', reason: { reason: 'queue-full' } });
    expect(order).toEqual([1, 2, 3, 4, 5]);
    expect([limit.running, limit.queued]).toEqual([0, 0]);
  });

  it('gives up on a lookup that waited longer than allowed, and frees its place in the queue', async () => {
    const limit = new ConcurrencyLimit(1, 1, 30);
    const long = limit.run(() => sleep(100));
    await expect(limit.run(async () => 'late')).rejects.toEqual(expect.objectContaining({ reason: 'queue-timeout' }));
    expect(limit.queued).toBe(0);
    await long;
    expect(await limit.run(async () => 'now')).toBe('now');
  });

  it('frees a place when a lookup fails', async () => {
    const limit = new ConcurrencyLimit(1, 0, 1000);
    await expect(limit.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await limit.run(async () => 1)).toBe(1);
    expect(new LimitRefused('queue-full', 'x')).toBeInstanceOf(Error);
  });
});

describe('Directus access within the bound', () => {
  function slowDirectus(status: number) {
    const stats = { calls: 0, underWay: 0, most: 0 };
    const fetchImpl = (async () => {
      stats.calls++;
      stats.underWay++;
      stats.most = Math.max(stats.most, stats.underWay);
      await sleep(20);
      stats.underWay--;
      return new Response(JSON.stringify(status === 200 ? { data: { id: 'x' } } : { errors: [{ extensions: { code: 'FORBIDDEN' } }] }), { status });
    }) as unknown as typeof fetch;
    return { stats, fetchImpl };
  }
  const bearer = (token: string) => ({ kind: 'bearer' as const, token });

  it('asks Directus at most maxInFlight at once, and answers DirectusUnavailable past the queue without asking', async () => {
    const { stats, fetchImpl } = slowDirectus(200);
    const shed: string[] = [];
    const access = new DirectusAccess({ directusUrl: 'http://directus:8055', allowTtlMs: 30_000, denyTtlMs: 5_000, timeoutMs: 1000, maxInFlight: 3, maxQueued: 4, eventExists: async () => true, onShed: (kind, reason) => shed.push(`${kind} ${reason}`), fetch: fetchImpl });
    const events = Array.from({ length: 10 }, (_, i) => `${EVENT.slice(0, -2)}${String(i).padStart(2, '0')}`);
    const results = await Promise.allSettled(events.map((event) => access.eventAccess(bearer('t'), 'u', event)));
    expect(stats.most).toBe(3);
    expect(stats.calls).toBe(7);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(7);
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused).toHaveLength(3);
    for (const r of refused) expect(r.reason).toBeInstanceOf(DirectusUnavailable);
    expect(shed).toEqual(['event queue-full', 'event queue-full', 'event queue-full']);
    // Not remembered: asked again once there is room.
    expect(await access.eventAccess(bearer('t'), 'u', events[9]!)).toBe('allow');
  });

  it('remembers a refusal per user and event (GATEWAY_AUTH_DENY_TTL_MS), as an answer that allows (GATEWAY_AUTH_TTL_MS)', async () => {
    const { stats, fetchImpl } = slowDirectus(403);
    const access = new DirectusAccess({ directusUrl: 'http://directus:8055', allowTtlMs: 30_000, denyTtlMs: 5_000, timeoutMs: 1000, eventExists: async () => false, fetch: fetchImpl });
    const now = Date.now();
    expect(await access.eventAccess(bearer('t'), 'u', EVENT, now)).toBe('not-found');
    expect(await access.eventAccess(bearer('t'), 'u', EVENT, now + 4_000)).toBe('not-found');
    expect(stats.calls).toBe(1);
    // Another user is asked about on its own.
    expect(await access.eventAccess(bearer('t2'), 'u2', EVENT, now + 4_000)).toBe('not-found');
    expect(stats.calls).toBe(2);
    expect(await access.eventAccess(bearer('t'), 'u', EVENT, Date.now() + 5_001)).toBe('not-found');
    expect(stats.calls).toBe(3);
  });
});

describe('resume cursors', () => {
  it('are stream ids Redis takes: two parts, each at most 2^64-1 (checked exactly, not as a Number)', () => {
    expect(isCursor('0-0')).toBe(true);
    expect(isCursor('18446744073709551615-18446744073709551615')).toBe(true);
    expect(isCursor('1796541397093-99999999999999999999')).toBe(false);
    expect(isCursor('18446744073709551616-0')).toBe(false);
    // As Numbers both are 18446744073709552000: only BigInt tells them apart.
    expect(isCursor('1-18446744073709551616')).toBe(false);
    expect(isCursor('abc')).toBe(false);
    expect(isCursor('1-')).toBe(false);
  });

  it('that Redis would refuse are a bad request naming since', () => {
    const parsed = parseClientMessage(JSON.stringify({ type: 'subscribe', topic: `event:${EVENT}`, id: 1, since: '1796541397093-99999999999999999999' }));
    expect(parsed).toEqual({ ok: false, id: 1, message: 'since: expected a cursor (a stream entry id such as "1733100000000-0"), each part at most 18446744073709551615' });
    expect(parseClientMessage(JSON.stringify({ type: 'subscribe', topic: `event:${EVENT}`, since: 'abc' }))).toMatchObject({ ok: false, message: expect.stringMatching(/^since: expected a cursor/) });
  });
});

describe('gateway limits configuration', () => {
  const base = { DATABASE_URL: 'postgres://u@h:5432/d', DIRECTUS_URL: 'http://directus:8055' };

  it('has defaults a live map never meets, the burst following GATEWAY_MAX_SUBSCRIPTIONS', () => {
    const config = loadGatewayConfig(base);
    expect(config).toMatchObject({ GATEWAY_SUBSCRIBE_PER_SECOND: 5, GATEWAY_DIRECTUS_MAX_IN_FLIGHT: 10, GATEWAY_DIRECTUS_MAX_QUEUED: 1000 });
    expect(config.GATEWAY_SUBSCRIBE_BURST).toBeUndefined();
    expect(loadGatewayConfig({ ...base, GATEWAY_SUBSCRIBE_BURST: '20', GATEWAY_SUBSCRIBE_PER_SECOND: '0.5', GATEWAY_DIRECTUS_MAX_QUEUED: '0' })).toMatchObject({ GATEWAY_SUBSCRIBE_BURST: 20, GATEWAY_SUBSCRIBE_PER_SECOND: 0.5, GATEWAY_DIRECTUS_MAX_QUEUED: 0 });
  });

  it('refuses values that are no limit, naming the variable', () => {
    for (const [variable, value] of [['GATEWAY_SUBSCRIBE_BURST', '0'], ['GATEWAY_SUBSCRIBE_BURST', '2.5'], ['GATEWAY_SUBSCRIBE_PER_SECOND', '0'], ['GATEWAY_SUBSCRIBE_PER_SECOND', 'fast'], ['GATEWAY_DIRECTUS_MAX_IN_FLIGHT', '0'], ['GATEWAY_DIRECTUS_MAX_QUEUED', '-1']] as const) {
      expect(() => loadGatewayConfig({ ...base, [variable]: value }), `${variable}=${value}`).toThrow(ConfigError);
      expect(() => loadGatewayConfig({ ...base, [variable]: value })).toThrow(new RegExp(`^${variable}: invalid value`));
    }
  });
});
