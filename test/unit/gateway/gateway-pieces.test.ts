import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { toPositionEntry, unmappableReason } from '../../../src/domain/live/position-entry.ts';
import type { Position } from '../../../src/domain/position.ts';
import { parseClientMessage, parseTopic } from '../../../src/gateway/client-messages.ts';
import { compareCursor } from '../../../src/stream/cursor.ts';
import { DeviceRoutes } from '../../../src/gateway/device-routes.ts';
import { CredentialsRefused, credentialsOf, DirectusAccess, DirectusUnavailable } from '../../../src/gateway/directus-access.ts';
import { fixesOf, playBack } from '../../../src/gateway/playback.ts';

const EVENT = '0b7e5a8c-3f7e-4a8b-9c1d-2e3f4a5b6c7d';
const OTHER = '1c8f6b9d-4a8f-4b9c-8d2e-3f4a5b6c7d8e';

const position = (over: Partial<Position> = {}): Position => ({
  deviceId: '356307042441013',
  ts: Date.UTC(2026, 11, 2, 10),
  latitude: 24.5,
  longitude: 54.4,
  altitude: 10,
  angle: 270,
  speed: 88.5,
  satellites: 12,
  priority: 0,
  attributes: {},
  codec: '8E',
  ...over,
});

describe('position entries for the live map', () => {
  it('carries what the map draws, in the contract names', () => {
    expect(toPositionEntry(position())).toEqual({ deviceId: '356307042441013', lat: 24.5, lon: 54.4, ts: Date.UTC(2026, 11, 2, 10), speed: 88.5, course: 270, satellites: 12 });
  });

  it('keeps a tracker without a GPS fix (0,0, or 0 satellites) and a clock gone wrong off the map', () => {
    const now = Date.UTC(2026, 11, 2, 10);
    expect(unmappableReason(position(), now, 300_000)).toBeNull();
    expect(unmappableReason(position({ latitude: 0, longitude: 0 }), now, 300_000)).toBe('no-gps-fix');
    expect(unmappableReason(position({ satellites: 0 }), now, 300_000)).toBe('no-gps-fix');
    expect(unmappableReason(position({ satellites: 1 }), now, 300_000)).toBeNull();
    expect(unmappableReason(position({ latitude: 0, longitude: 12 }), now, 300_000)).toBeNull();
    expect(unmappableReason(position({ ts: now + 300_001 }), now, 300_000)).toBe('future-time');
    expect(unmappableReason(position({ ts: now + 300_000 }), now, 300_000)).toBeNull();
  });
});

describe('client messages', () => {
  it('reads topics of events and playbacks, lower-casing their ids', () => {
    expect(parseTopic(`event:${EVENT.toUpperCase()}`)).toEqual({ kind: 'event', eventId: EVENT, name: `event:${EVENT}` });
    expect(parseTopic(`playback:${OTHER}`)).toEqual({ kind: 'playback', playbackId: OTHER, name: `playback:${OTHER}` });
    for (const bad of ['event:', 'event:42', `events:${EVENT}`, `event:${EVENT}:x`, EVENT]) expect(parseTopic(bad), bad).toBeNull();
  });

  it('accepts subscribe, unsubscribe and playback, with defaults', () => {
    expect(parseClientMessage(JSON.stringify({ type: 'subscribe', topic: `event:${EVENT}`, id: 7, since: '1733100000000-0' }))).toEqual({
      ok: true,
      message: { type: 'subscribe', topic: `event:${EVENT}`, id: 7, since: '1733100000000-0' },
    });
    expect(parseClientMessage(JSON.stringify({ type: 'unsubscribe', topic: `event:${EVENT}` }))).toMatchObject({ ok: true });
    expect(parseClientMessage(JSON.stringify({ type: 'playback', event: EVENT, stage: OTHER }))).toEqual({ ok: true, message: { type: 'playback', event: EVENT, stage: OTHER, speed: 10 } });
  });

  it('names the field that is wrong and keeps the request id', () => {
    expect(parseClientMessage('{')).toEqual({ ok: false, message: 'expected a JSON object' });
    // JSON, but not an object: the message is wrong as a whole, not its type.
    expect(parseClientMessage('[]')).toEqual({ ok: false, message: 'expected a JSON object, not an array' });
    expect(parseClientMessage('null')).toEqual({ ok: false, message: 'expected a JSON object, not null' });
    expect(parseClientMessage('123')).toEqual({ ok: false, message: 'expected a JSON object, not a number' });
    expect(parseClientMessage('"subscribe"')).toEqual({ ok: false, message: 'expected a JSON object, not a string' });
    expect(parseClientMessage(JSON.stringify({ type: 'subscribe', topic: 'event:1', id: 'a' }))).toEqual({ ok: false, message: expect.stringMatching(/^topic: expected "event:<uuid>"/), id: 'a' });
    expect(parseClientMessage(JSON.stringify({ type: 'subscribe', topic: `event:${EVENT}`, since: 'now' }))).toMatchObject({ ok: false, message: expect.stringMatching(/^since: expected a cursor/) });
    expect(parseClientMessage(JSON.stringify({ type: 'playback', event: EVENT, stage: OTHER, speed: 51 }))).toMatchObject({ ok: false, message: 'speed: expected 1 to 50' });
    expect(parseClientMessage(JSON.stringify({ type: 'playback', event: EVENT, stage: OTHER, speed: 0.5 }))).toMatchObject({ ok: false, message: 'speed: expected 1 to 50' });
    expect(parseClientMessage(JSON.stringify({ type: 'hello' }))).toMatchObject({ ok: false, message: 'type: expected "subscribe", "unsubscribe" or "playback"' });
    expect(parseClientMessage(JSON.stringify([1]))).toMatchObject({ ok: false });
  });
});

describe('stream cursors', () => {
  it('order by time, then sequence, as numbers of any length', () => {
    expect(compareCursor('1-0', '1-0')).toBe(0);
    expect(compareCursor('9-0', '10-0')).toBeLessThan(0);
    expect(compareCursor('10-2', '10-10')).toBeLessThan(0);
    expect(compareCursor('1733100000000-18446744073709551615', '1733100000000-18446744073709551614')).toBeGreaterThan(0);
    expect(compareCursor('1733100000001-0', '1733100000000-99')).toBeGreaterThan(0);
  });
});

describe('device routes', () => {
  const routes = new DeviceRoutes([
    { deviceId: 'A', eventId: EVENT, validFrom: null, validTo: null },
    // Tracker B moved from the first event to the other at t=1000.
    { deviceId: 'B', eventId: EVENT, validFrom: null, validTo: 1000 },
    { deviceId: 'B', eventId: OTHER, validFrom: 1000, validTo: null },
    // Two entries of one event sharing a tracker: the topic gets its fix once.
    { deviceId: 'C', eventId: EVENT, validFrom: null, validTo: null },
    { deviceId: 'C', eventId: EVENT, validFrom: null, validTo: null },
  ]);

  it('sends a fix to the events its tracker is assigned to at the fix time', () => {
    expect(routes.eventsOf('A', 5)).toEqual([EVENT]);
    expect(routes.eventsOf('B', 999)).toEqual([EVENT]);
    expect(routes.eventsOf('B', 1000)).toEqual([OTHER]);
    expect(routes.eventsOf('C', 5)).toEqual([EVENT]);
    expect(routes.eventsOf('unknown', 5)).toEqual([]);
  });

  it('lists every tracker of an event, and tells an unchanged table by its signature', () => {
    expect(routes.devicesOf(EVENT).sort()).toEqual(['A', 'B', 'C']);
    expect(routes.devicesOf(OTHER)).toEqual(['B']);
    const same = new DeviceRoutes([...[{ deviceId: 'C', eventId: EVENT, validFrom: null, validTo: null }], { deviceId: 'A', eventId: EVENT, validFrom: null, validTo: null }]);
    const again = new DeviceRoutes([{ deviceId: 'A', eventId: EVENT, validFrom: null, validTo: null }, { deviceId: 'C', eventId: EVENT, validFrom: null, validTo: null }]);
    expect(same.signature).toBe(again.signature);
    expect(same.signature).not.toBe(routes.signature);
  });
});

describe('credentials of an upgrade', () => {
  const url = (q = '') => new URL(`http://gw/ws-live${q}`);
  it('takes the bearer header first, then the query parameter, then the session cookie', () => {
    expect(credentialsOf({ authorization: 'Bearer abc', cookie: 'directus_session_token=s' }, url('?access_token=q'), 'directus_session_token')).toEqual({ kind: 'bearer', token: 'abc' });
    expect(credentialsOf({ cookie: 'directus_session_token=s' }, url('?access_token=q'), 'directus_session_token')).toEqual({ kind: 'bearer', token: 'q' });
    expect(credentialsOf({ cookie: 'a=1; directus_session_token=s.t; b=2' }, url(), 'directus_session_token')).toEqual({ kind: 'cookie', name: 'directus_session_token', token: 's.t' });
    expect(credentialsOf({ authorization: 'Basic xyz', cookie: 'directus_session_token=' }, url(), 'directus_session_token')).toBeNull();
  });
});

describe('Directus access, cached and coalesced', () => {
  /** Answers each call with a status, with `[status, code]` (Directus's error code), or as if it were down. */
  function fakeDirectus(answer: (path: string, auth: string) => number | [number, string] | 'down') {
    const calls: string[] = [];
    const fetchImpl = (async (input: URL, init: { headers: Record<string, string> }) => {
      const auth = init.headers.authorization ?? init.headers.cookie ?? '';
      calls.push(`${input.pathname} ${auth}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      const answered = answer(input.pathname, auth);
      if (answered === 'down') throw new TypeError('fetch failed');
      const [status, code] = Array.isArray(answered) ? answered : [answered, 'FORBIDDEN'];
      return new Response(JSON.stringify(status === 200 ? { data: { id: `user-of-${auth}` } } : { errors: [{ message: code, extensions: { code } }] }), { status });
    }) as unknown as typeof fetch;
    return { calls, fetchImpl };
  }
  const options = (fetchImpl: typeof fetch, exists = true) => ({
    directusUrl: 'http://directus:8055',
    allowTtlMs: 30_000,
    denyTtlMs: 5_000,
    timeoutMs: 1000,
    eventExists: async () => exists,
    fetch: fetchImpl,
  });
  const bearer = (token: string) => ({ kind: 'bearer' as const, token });

  it('asks once for a herd of the same credentials and event, and again once the answer is old', async () => {
    const { calls, fetchImpl } = fakeDirectus(() => 200);
    const access = new DirectusAccess(options(fetchImpl));
    const now = Date.now();
    const identities = await Promise.all(Array.from({ length: 500 }, () => access.identify(bearer('t1'), now)));
    expect(new Set(identities.map((i) => JSON.stringify(i)))).toEqual(new Set([JSON.stringify({ ok: true, userId: 'user-of-Bearer t1' })]));
    const grants = await Promise.all(Array.from({ length: 500 }, () => access.eventAccess(bearer('t1'), 'u1', EVENT, now)));
    expect(new Set(grants)).toEqual(new Set(['allow']));
    expect(calls).toHaveLength(2);
    await access.identify(bearer('t1'), now + 29_000);
    expect(calls).toHaveLength(2);
    await access.identify(bearer('t1'), Date.now() + 31_000);
    expect(calls).toHaveLength(3);
  });

  it('tells refused credentials, forbidden and unknown events apart (Directus answers 403 to both)', async () => {
    const { fetchImpl } = fakeDirectus((path) => (path === '/users/me' ? 401 : 403));
    expect(await new DirectusAccess(options(fetchImpl, true)).identify(bearer('bad'))).toEqual({ ok: false });
    expect(await new DirectusAccess(options(fetchImpl, true)).eventAccess(bearer('x'), 'u', EVENT)).toBe('forbidden');
    expect(await new DirectusAccess(options(fetchImpl, false)).eventAccess(bearer('x'), 'u', EVENT)).toBe('not-found');
  });

  it('says when Directus no longer accepts the credentials at the event check, and does not remember it for the user', async () => {
    let refused = true;
    const { calls, fetchImpl } = fakeDirectus(() => (refused ? 401 : 200));
    const access = new DirectusAccess(options(fetchImpl));
    await expect(access.eventAccess(bearer('expired'), 'u', EVENT)).rejects.toBeInstanceOf(CredentialsRefused);
    // The same user with a fresh token is asked about, not answered from the refusal.
    refused = false;
    expect(await access.eventAccess(bearer('fresh'), 'u', EVENT)).toBe('allow');
    expect(calls).toHaveLength(2);
  });

  it('takes a token Directus can no longer verify (403 INVALID_TOKEN) as refused credentials, not a forbidden event', async () => {
    const { fetchImpl } = fakeDirectus(() => [403, 'INVALID_TOKEN']);
    await expect(new DirectusAccess(options(fetchImpl)).eventAccess(bearer('signed-elsewhere'), 'u', EVENT)).rejects.toBeInstanceOf(CredentialsRefused);
  });

  it("does not refuse a viewer for another viewer's expired credentials when their checks are shared", async () => {
    const { calls, fetchImpl } = fakeDirectus((_path, auth) => (auth === 'Bearer expired' ? 401 : 200));
    const access = new DirectusAccess(options(fetchImpl));
    const [expired, fresh] = await Promise.allSettled([access.eventAccess(bearer('expired'), 'u', EVENT), access.eventAccess(bearer('fresh'), 'u', EVENT)]);
    expect(expired).toMatchObject({ status: 'rejected', reason: expect.any(CredentialsRefused) });
    expect(fresh).toEqual({ status: 'fulfilled', value: 'allow' });
    expect(calls).toEqual([`/items/events/${EVENT} Bearer expired`, `/items/events/${EVENT} Bearer fresh`]);
    // A herd of fresh viewers behind one expired token: one call more, not one each.
    calls.length = 0;
    const herd = await Promise.allSettled([bearer('expired'), ...Array.from({ length: 50 }, (_, i) => bearer(`fresh-${i}`))].map((c) => access.eventAccess(c, 'u2', EVENT)));
    expect(herd.filter((h) => h.status === 'fulfilled')).toHaveLength(50);
    expect(calls).toHaveLength(2);
  });

  it('refuses a token that cannot go in a header, without asking Directus or counting it as unreachable', async () => {
    // The real fetch, which throws on such header values, against a stand-in Directus that knows no token.
    const directus = createServer((_req, res) => res.writeHead(401).end('{"errors":[]}'));
    await new Promise<void>((resolve) => directus.listen(0, '127.0.0.1', resolve));
    try {
      const outcomes: string[] = [];
      const access = new DirectusAccess({ ...options(fetch), directusUrl: `http://127.0.0.1:${(directus.address() as AddressInfo).port}`, onCall: (_kind, outcome) => outcomes.push(outcome) });
      const euro = credentialsOf({}, new URL('http://gw/ws-live?access_token=%E2%82%AC'), 'directus_session_token')!;
      expect(euro).toEqual({ kind: 'bearer', token: '€' });
      for (const credentials of [euro, bearer('a\u0001b'), bearer('a\nb'), { kind: 'cookie' as const, name: 'directus_session_token', token: 'x\u{1F3CE}' }]) {
        expect(await access.identify(credentials), JSON.stringify(credentials)).toEqual({ ok: false });
      }
      expect(outcomes).toEqual([]);
      // A token fetch can send goes to Directus as before.
      expect(await access.identify(bearer('unknown'))).toEqual({ ok: false });
      expect(outcomes).toEqual(['401']);
    } finally {
      directus.close();
    }
  });

  it('forgets the identity of credentials it is told to, and only theirs', async () => {
    const { calls, fetchImpl } = fakeDirectus(() => 200);
    const access = new DirectusAccess(options(fetchImpl));
    await access.identify(bearer('a'));
    await access.identify(bearer('b'));
    access.forget(bearer('a'));
    await access.identify(bearer('a'));
    await access.identify(bearer('b'));
    expect(calls.filter((c) => c.startsWith('/users/me'))).toEqual(['/users/me Bearer a', '/users/me Bearer b', '/users/me Bearer a']);
  });

  it('does not remember that Directus was down: the next viewer asks again', async () => {
    let down = true;
    const { calls, fetchImpl } = fakeDirectus(() => (down ? 'down' : 200));
    const access = new DirectusAccess(options(fetchImpl));
    await expect(access.identify(bearer('t'))).rejects.toBeInstanceOf(DirectusUnavailable);
    down = false;
    expect(await access.identify(bearer('t'))).toMatchObject({ ok: true });
    expect(calls).toHaveLength(2);
    const { fetchImpl: failing } = fakeDirectus(() => 502);
    await expect(new DirectusAccess(options(failing)).identify(bearer('t'))).rejects.toThrow(/answered 502/);
  });
});

describe('playback on the clock', () => {
  it('emits each fix when the played-back time reaches it, speed times as fast, in order', async () => {
    const from = 1_000_000;
    const fixes = [0, 1000, 2000, 3000].map((dt, i) => ({ deviceId: `D${i % 2}`, lat: 1, lon: 1, ts: from + dt }));
    async function* pages() {
      yield fixes.slice(0, 2);
      yield fixes.slice(2);
    }
    const seen: { ts: number; at: number }[] = [];
    const started = Date.now();
    const n = await playBack(pages(), from, 20, (fix) => seen.push({ ts: fix.ts, at: Date.now() - started }), () => false, 5);
    expect(n).toBe(4);
    expect(seen.map((s) => s.ts)).toEqual(fixes.map((f) => f.ts));
    // 3 s of race at 20x: about 150 ms, and never ahead of the clock.
    for (const s of seen) expect(s.at).toBeGreaterThanOrEqual((s.ts - from) / 20 - 2);
    expect(seen[3]!.at).toBeLessThan(1000);
  });

  it("plays back only the fixes a tracker made while it was on the event's entries", async () => {
    // D1 rode on the event until t=2000, then on a car of the sister event on the same ground.
    const routes = new DeviceRoutes([
      { deviceId: 'D1', eventId: EVENT, validFrom: null, validTo: 2000 },
      { deviceId: 'D1', eventId: OTHER, validFrom: 2000, validTo: null },
      { deviceId: 'D2', eventId: EVENT, validFrom: null, validTo: null },
    ]);
    async function* pages() {
      yield [0, 1000, 2000, 3000].flatMap((ts) => ['D1', 'D2'].map((deviceId) => ({ deviceId, lat: 1, lon: 1, ts })));
    }
    const played: string[] = [];
    for await (const page of fixesOf(pages(), (fix) => routes.eventsOf(fix.deviceId, fix.ts).includes(EVENT))) played.push(...page.map((f) => `${f.deviceId}@${f.ts}`));
    expect(played).toEqual(['D1@0', 'D2@0', 'D1@1000', 'D2@1000', 'D2@2000', 'D2@3000']);
  });

  it('stops as soon as it is told to', async () => {
    async function* pages() {
      yield [{ deviceId: 'D', lat: 1, lon: 1, ts: 0 }, { deviceId: 'D', lat: 1, lon: 1, ts: 60_000 }];
    }
    let stop = false;
    const emitted: number[] = [];
    const run = playBack(pages(), 0, 1, (fix) => {
      emitted.push(fix.ts);
      stop = true;
    }, () => stop, 5);
    expect(await run).toBe(1);
    expect(emitted).toEqual([0]);
  });
});
