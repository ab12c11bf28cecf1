import { connect } from 'node:net';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import knexFactory from 'knex';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { demoId } from '../../src/demo/demo-race.ts';
import { repoRoot } from '../../src/devstack/directus-process.ts';
import { loadGatewayConfig } from '../../src/gateway/config.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { insertPositions } from '../../src/store/positions.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { freePort, REDIS_URL } from '../support/stack.ts';
import { PrivateRedis } from '../support/private-redis.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 3 } });
const redis = new Redis(REDIS_URL);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A race of the test's own: one event, two entries with a tracker each, and a tracker on no entry. */
interface Race {
  eventId: string;
  stageId: string;
  imeis: [string, string];
  stranger: string;
}

/** What the tests made, removed at the end so later test files find the database as it was. */
const races: { eventId: string; imeis: string[] }[] = [];

const imei = () => `35${String(Math.floor(Math.random() * 1e13)).padStart(13, '0')}`;

async function createRace(): Promise<Race> {
  const suffix = randomUUID().slice(0, 8);
  const eventId = randomUUID();
  const stageId = randomUUID();
  const imeis: [string, string] = [imei(), imei()];
  const day = 24 * 3600_000;
  await db('events').insert({ id: eventId, name: `Gateway rally ${suffix}`, slug: `gateway-${suffix}`, status: 'running', starts_at: new Date(Date.now() - day), ends_at: new Date(Date.now() + day) });
  await db('stages').insert({ id: stageId, event: eventId, name: 'SS1', sort_order: 1, opens_at: new Date(Date.now() - day), closes_at: new Date(Date.now() + day) });
  races.push({ eventId, imeis });
  for (const [i, imei] of imeis.entries()) {
    const device = randomUUID();
    const entry = randomUUID();
    await db('devices').insert({ id: device, imei, name: `tracker ${imei}`, model: demoId('model:FMB920') });
    await db('entries').insert({ id: entry, event: eventId, race_number: 500 + i, name: `Crew ${i}` });
    await db('entry_devices').insert({ id: randomUUID(), entry, device });
  }
  return { eventId, stageId, imeis, stranger: imei() };
}

interface Fix {
  lat?: number;
  lon?: number;
  ts?: number;
  speed?: number;
}

/** One stream entry as the ingestion service writes it (CONTRACTS section 1). */
function entryFields(imei: string, fix: Fix = {}): string[] {
  const ts = new Date(fix.ts ?? Date.now()).toISOString();
  const payload = {
    device_id: imei,
    timestamp: ts,
    latitude: fix.lat ?? 24.5,
    longitude: fix.lon ?? 54.4,
    altitude: 12,
    angle: 90,
    speed: fix.speed ?? 80,
    satellites: 11,
    priority: 0,
    attributes: { '239': 1 },
  };
  return ['ts', ts, 'device_id', imei, 'codec', '8E', 'payload', JSON.stringify(payload)];
}

const xadd = (stream: string, imei: string, fix?: Fix) => redis.xadd(stream, '*', ...entryFields(imei, fix)) as Promise<string>;

/** A WebSocket viewer that records every message, with helpers to wait for them. */
class TestViewer {
  readonly messages: any[] = [];
  closed: { code: number; reason: string } | null = null;
  pings = 0;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.messages.push(JSON.parse(data.toString())));
    ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
    ws.on('ping', () => this.pings++);
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<TestViewer> {
    const ws = new WebSocket(url, { headers });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
      ws.once('error', reject);
    });
    return new TestViewer(ws);
  }

  send(message: object): void {
    this.ws.send(JSON.stringify(message));
  }

  positions(topic?: string): any[] {
    return this.messages.filter((m) => m.type === 'position' && (!topic || m.topic === topic));
  }

  async next(match: (m: any) => boolean, what: string, timeoutMs = 10_000): Promise<any> {
    return waitFor(async () => this.messages.find(match), { timeoutMs, intervalMs: 20, what });
  }

  close(): void {
    this.ws.close();
  }
}

/** Answers an upgrade that was refused: its status and the JSON body, as a browser's fetch would see them. */
async function refused(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const ws = new WebSocket(url, { headers });
  return new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    ws.once('error', reject);
  });
}

async function startGateway(env: Record<string, string>, fetchImpl?: typeof fetch): Promise<{ gateway: Gateway; url: string; metrics: () => Promise<string> }> {
  const port = await freePort();
  const metricsPort = await freePort();
  const config = loadGatewayConfig({
    DATABASE_URL: stack.processorDatabaseUrl,
    REDIS_URL,
    DIRECTUS_URL: stack.directusUrl,
    LIVE_WS_PORT: String(port),
    METRICS_PORT: String(metricsPort),
    INSTANCE_ID: `test-${randomUUID().slice(0, 8)}`,
    LOG_LEVEL: 'silent',
    GATEWAY_ROUTES_REFRESH_MS: '300',
    GATEWAY_BLOCK_MS: '200',
    ...env,
  });
  const gateway = new Gateway(config, pino({ level: 'silent' }), fetchImpl);
  await gateway.start();
  return {
    gateway,
    url: `ws://127.0.0.1:${port}/ws-live`,
    metrics: async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
  };
}

const metricValue = (text: string, line: string): number => {
  const found = text.split('\n').find((l) => l.startsWith(line));
  return found ? Number(found.slice(line.length).trim()) : 0;
};

let token: string;
let race: Race;

/** A Directus user with a static token of its own, made by the admin; without a role unless one is given. */
async function createUser(name: string, role: string | null = null): Promise<{ id: string; token: string }> {
  const userToken = `${name}-token-${randomUUID()}`;
  const made = await call(stack, '/users', { token, body: { email: `${name}-${randomUUID().slice(0, 8)}@pitwall.example.com`, password: randomUUID(), token: userToken, role } });
  expect(made.status, made.text).toBe(200);
  return { id: made.json.data.id as string, token: userToken };
}

beforeAll(async () => {
  token = await adminToken(stack);
  race = await createRace();
});

afterAll(async () => {
  redis.disconnect();
  await db('events').whereIn('id', races.map((r) => r.eventId)).delete();
  const imeis = races.flatMap((r) => r.imeis);
  await db('positions').whereIn('device_id', imeis).delete();
  await db('devices').whereIn('imei', imeis).delete();
  await db.destroy();
});

describe('live gateway: who may connect and subscribe', () => {
  const stream = `test:telemetry:${randomUUID()}`;
  let started: Awaited<ReturnType<typeof startGateway>>;
  beforeAll(async () => {
    started = await startGateway({ REDIS_TELEMETRY_STREAM: stream });
  });
  afterAll(async () => {
    await started.gateway.close();
    await redis.del(stream);
  });

  it('answers 401 without credentials and with a token Directus refuses, with the reason', async () => {
    const none = await refused(started.url);
    expect(none.status).toBe(401);
    expect(none.body.error).toMatch(/access token is required/);
    const bad = await refused(started.url, { authorization: 'Bearer not-a-real-token' });
    expect(bad.status).toBe(401);
    expect(bad.body.error).toMatch(/did not accept/);
    const badQuery = await refused(`${started.url}?access_token=nope`);
    expect(badQuery.status).toBe(401);
    // No token fetch could send to Directus: refused too, not taken for Directus being down (503).
    const unsendable = await refused(`${started.url}?access_token=%E2%82%AC`);
    expect(unsendable.status).toBe(401);
  });

  it('answers 404 off its path', async () => {
    const off = await refused(started.url.replace('/ws-live', '/elsewhere'), { authorization: `Bearer ${token}` });
    expect(off.status).toBe(404);
  });

  it('answers 400 to an upgrade whose target is no URL, and goes on serving', async () => {
    const { hostname, port } = new URL(started.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write('GET //[ HTTP/1.1\r\nHost: gateway\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
      });
      let text = '';
      socket.on('data', (chunk) => (text += chunk));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(answer).toContain('not a URL');
    const viewer = await TestViewer.open(started.url, { authorization: `Bearer ${token}` });
    viewer.close();
  });

  it('counts playbacks against the subscription limit when they are asked for all at once', async () => {
    const limited = await startGateway({ REDIS_TELEMETRY_STREAM: stream, GATEWAY_MAX_SUBSCRIPTIONS: '2' });
    try {
      const viewer = await TestViewer.open(limited.url, { authorization: `Bearer ${token}` });
      for (let id = 1; id <= 6; id += 1) viewer.send({ type: 'playback', id, event: race.eventId, stage: race.stageId, speed: 50 });
      const answers = await waitFor(async () => {
        const answered = viewer.messages.filter((m) => (m.type === 'playback' || m.type === 'error') && typeof m.id === 'number');
        return answered.length >= 6 && answered;
      }, { what: 'an answer to each playback request' });
      expect(answers.filter((m) => m.type === 'playback')).toHaveLength(2);
      expect(answers.filter((m) => m.code === 'too-many-subscriptions')).toHaveLength(4);
      viewer.close();
    } finally {
      await limited.gateway.close();
    }
  });

  it('accepts a token as a header, a query parameter or the Directus session cookie', async () => {
    const byHeader = await TestViewer.open(started.url, { authorization: `Bearer ${token}` });
    const byQuery = await TestViewer.open(`${started.url}?access_token=${token}`);
    const login = await fetch(`${stack.directusUrl}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: stack.adminEmail, password: stack.adminPassword, mode: 'session' }),
    });
    const cookie = (login.headers.getSetCookie().find((c) => c.startsWith('directus_session_token=')) ?? '').split(';')[0]!;
    expect(cookie).toMatch(/^directus_session_token=./);
    const byCookie = await TestViewer.open(started.url, { cookie: `other=1; ${cookie}` });
    for (const viewer of [byHeader, byQuery, byCookie]) {
      viewer.send({ type: 'subscribe', topic: `event:${race.eventId}`, id: 'a' });
      await viewer.next((m) => m.type === 'subscribed' && m.id === 'a', 'subscribed');
      viewer.close();
    }
  });

  it('refuses an event the user may not read, an unknown event, and a malformed message, naming the field', async () => {
    // A user without a role: Directus lets it read itself, but no event.
    const { token: userToken } = await createUser('viewer');
    const viewer = await TestViewer.open(started.url, { authorization: `Bearer ${userToken}` });
    viewer.send({ type: 'subscribe', topic: `event:${race.eventId}`, id: 1 });
    expect(await viewer.next((m) => m.id === 1, 'forbidden')).toMatchObject({ type: 'error', code: 'forbidden' });
    viewer.send({ type: 'subscribe', topic: `event:${randomUUID()}`, id: 2 });
    expect(await viewer.next((m) => m.id === 2, 'not-found')).toMatchObject({ type: 'error', code: 'not-found' });
    viewer.send({ type: 'subscribe', topic: 'event:42', id: 3 });
    expect(await viewer.next((m) => m.id === 3, 'bad topic')).toMatchObject({ type: 'error', code: 'bad-request', message: expect.stringMatching(/^topic: /) });
    viewer.send({ type: 'subscribe', topic: `event:${race.eventId}`, since: 'yesterday', id: 4 });
    expect(await viewer.next((m) => m.id === 4, 'bad since')).toMatchObject({ type: 'error', code: 'bad-request', message: expect.stringMatching(/^since: /) });
    viewer.ws.send('not json');
    await viewer.next((m) => m.type === 'error' && m.message === 'expected a JSON object', 'not json');
    expect(viewer.closed).toBeNull();
    viewer.close();
  });

  it('closes a connection whose credentials Directus no longer accepts with 4001, and refuses them at the next upgrade', async () => {
    const { id: userId, token: userToken } = await createUser('revoked');
    const viewer = await TestViewer.open(started.url, { authorization: `Bearer ${userToken}` });
    // An admin replaces the user's static token while the viewer is connected.
    expect((await call(stack, `/users/${userId}`, { token, method: 'PATCH', body: { token: `replaced-${randomUUID()}` } })).status).toBe(200);
    viewer.send({ type: 'subscribe', topic: `event:${race.eventId}`, id: 'stale' });
    await waitFor(async () => viewer.closed ?? undefined, { timeoutMs: 10_000, what: 'the viewer closed' });
    expect(viewer.closed).toEqual({ code: 4001, reason: 'credentials expired or revoked: connect again with fresh ones' });
    expect(viewer.messages).toEqual([]);
    await expect(TestViewer.open(started.url, { authorization: `Bearer ${userToken}` })).rejects.toMatchObject({ status: 401 });
  });

  it('ends a topic whose event the user may no longer read, within GATEWAY_AUTH_TTL_MS, and keeps the connection', async () => {
    const roles = await call(stack, `/roles?filter[name][_eq]=${encodeURIComponent('Race Control')}&fields=id`, { token });
    const raceControl = roles.json.data[0].id as string;
    const { id: userId, token: userToken } = await createUser('race-control', raceControl);
    const checking = await startGateway({ REDIS_TELEMETRY_STREAM: stream, GATEWAY_AUTH_TTL_MS: '300', GATEWAY_AUTH_DENY_TTL_MS: '300' });
    const viewer = await TestViewer.open(checking.url, { authorization: `Bearer ${userToken}` });
    let stored: Date | null = null;
    try {
      const topic = `event:${race.eventId}`;
      viewer.send({ type: 'subscribe', topic, id: 'rc' });
      expect(await viewer.next((m) => m.id === 'rc', 'subscribed')).toMatchObject({ type: 'subscribed' });
      const before = await xadd(stream, race.imeis[0]);
      await viewer.next((m) => m.cursor === before, 'a live position while allowed');
      // A playback of the stage's opening hours (no crossings yet) on the clock, with a stored fix hours into it: it
      // lasts.
      const { opens_at: opensAt } = await db('stages').where({ id: race.stageId }).first('opens_at');
      stored = new Date(new Date(opensAt).getTime() + 3 * 3600_000);
      await insertPositions(db, [{ deviceId: race.imeis[0], ts: stored.getTime(), latitude: 24.5, longitude: 54.4, altitude: 12, angle: 90, speed: 80, satellites: 11, priority: 0, codec: '8E', attributes: { '239': 1 } }]);
      viewer.send({ type: 'playback', id: 'pb', event: race.eventId, stage: race.stageId, speed: 1 });
      const playback = await viewer.next((m) => m.id === 'pb', 'the playback');
      expect(playback).toMatchObject({ type: 'playback', topic: expect.stringMatching(/^playback:/) });
      // An admin takes the role away: the next check ends both topics, and nothing of them comes after.
      expect((await call(stack, `/users/${userId}`, { token, method: 'PATCH', body: { role: null } })).status).toBe(200);
      await waitFor(async () => viewer.messages.filter((m) => m.type === 'unsubscribed').length === 2 || undefined, { timeoutMs: 10_000, what: 'both topics ended' });
      const ended = viewer.messages.filter((m) => m.type === 'unsubscribed');
      const message = `you may no longer read event ${race.eventId}`;
      expect(ended).toEqual(expect.arrayContaining([{ type: 'unsubscribed', topic, code: 'forbidden', message }, { type: 'unsubscribed', topic: playback.topic, code: 'forbidden', message }]));
      const after = await xadd(stream, race.imeis[0]);
      await sleep(600);
      expect(viewer.positions().map((p) => p.cursor)).not.toContain(after);
      expect(viewer.closed).toBeNull();
    } finally {
      viewer.close();
      await checking.gateway.close();
      if (stored) await db('positions').where({ device_id: race.imeis[0], ts: stored }).delete();
    }
  });

  it('answers a second subscribe of a topic the connection holds, while it is prepared and once it is live', async () => {
    const viewer = await TestViewer.open(started.url, { authorization: `Bearer ${token}` });
    const topic = `event:${race.eventId}`;
    // The second arrives while the first is still being checked with Directus and prepared.
    viewer.send({ type: 'subscribe', topic, id: 1 });
    viewer.send({ type: 'subscribe', topic, id: 2 });
    expect(await viewer.next((m) => m.id === 2, 'second while preparing')).toMatchObject({ type: 'error', code: 'already-subscribed' });
    expect(await viewer.next((m) => m.id === 1, 'first')).toMatchObject({ type: 'subscribed', topic });
    viewer.send({ type: 'subscribe', topic, id: 3, since: '0-0' });
    expect(await viewer.next((m) => m.id === 3, 'second while live')).toMatchObject({ type: 'error', code: 'already-subscribed', message: expect.stringContaining(topic) });
    viewer.send({ type: 'unsubscribe', topic, id: 4 });
    await viewer.next((m) => m.id === 4 && m.type === 'unsubscribed', 'unsubscribed');
    viewer.send({ type: 'subscribe', topic, id: 5 });
    expect(await viewer.next((m) => m.id === 5, 'again after unsubscribing')).toMatchObject({ type: 'subscribed', topic });
    viewer.send({ type: 'publish', topic: `event:${race.eventId}` });
    await viewer.next((m) => m.type === 'error' && /^type: /.test(m.message), 'unknown type');
    // None of this closed the connection.
    expect(viewer.closed).toBeNull();
    viewer.close();
  });

  it('answers subscribe, unsubscribe, subscribe sent while Directus is still asked about the first as the last two', async () => {
    // Directus answers event checks only after a while: both subscribes wait on the same (shared) check.
    const slowChecks = (async (input: URL, init?: RequestInit) => {
      if (input.pathname.startsWith('/items/events/')) await sleep(300);
      return fetch(input, init);
    }) as typeof fetch;
    const slow = await startGateway({ REDIS_TELEMETRY_STREAM: stream }, slowChecks);
    const viewer = await TestViewer.open(slow.url, { authorization: `Bearer ${token}` });
    try {
      const topic = `event:${race.eventId}`;
      viewer.send({ type: 'subscribe', topic, id: 1 });
      viewer.send({ type: 'unsubscribe', topic, id: 2 });
      viewer.send({ type: 'subscribe', topic, id: 3 });
      expect(await viewer.next((m) => m.id === 3, 'the answer to the second subscribe')).toMatchObject({ type: 'subscribed', topic });
      await sleep(300);
      // The first subscribe is answered too, as cancelled by the unsubscribe, and only once.
      expect(viewer.messages.map((m) => [m.type, m.id])).toEqual([['error', 1], ['unsubscribed', 2], ['subscribed', 3]]);
      expect(viewer.messages[0]).toEqual({ type: 'error', id: 1, code: 'cancelled', topic, message: `unsubscribed from ${topic} before the subscription was ready` });
      // The topic is live for the second subscribe.
      const live = await xadd(stream, race.imeis[0]);
      await viewer.next((m) => m.cursor === live, 'a live position');
    } finally {
      viewer.close();
      await slow.gateway.close();
    }
  });

  it('a herd of viewers of one user and event costs Directus one call each for the user and the event', async () => {
    const { token: herdToken } = await createUser('herd');
    // The subscribe half with the admin's credentials (known already) on an event nobody asked about yet.
    const before = await started.metrics();
    const viewers = await Promise.all(Array.from({ length: 60 }, () => TestViewer.open(started.url, { authorization: `Bearer ${herdToken}` })));
    const fresh = await createRace();
    const admins = await Promise.all(Array.from({ length: 60 }, () => TestViewer.open(started.url, { authorization: `Bearer ${token}` })));
    for (const a of admins) a.send({ type: 'subscribe', topic: `event:${fresh.eventId}`, id: 'herd' });
    await Promise.all(admins.map((a) => a.next((m) => m.id === 'herd' && m.type === 'subscribed', 'herd subscribed')));
    const after = await started.metrics();
    const calls = (kind: string, text: string) => metricValue(text, `pitwall_gateway_directus_calls_total{kind="${kind}",outcome="200"}`);
    expect(calls('user', after) - calls('user', before)).toBe(1); // the herd token; the admin token was known already
    expect(calls('event', after) - calls('event', before)).toBe(1);
    for (const v of [...viewers, ...admins]) v.close();
  });
});

describe('live gateway: positions', () => {
  const stream = `test:telemetry:${randomUUID()}`;
  let started: Awaited<ReturnType<typeof startGateway>>;
  beforeAll(async () => {
    started = await startGateway({ REDIS_TELEMETRY_STREAM: stream, GATEWAY_PING_MS: '300' });
  });
  afterAll(async () => {
    await started.gateway.close();
    await redis.del(stream);
  });

  it('sends a snapshot of the newest fix of each tracker, then live positions of the event only, in stream order', async () => {
    const topic = `event:${race.eventId}`;
    const t0 = Date.now() - 60_000;
    // Stored before the gateway saw anything of this tracker: the snapshot reads it from positions.
    await db('positions').insert([
      { device_id: race.imeis[1], ts: new Date(t0), latitude: 24.1, longitude: 54.1, altitude: 0, angle: 0, speed: 10, satellites: 9, priority: 0, attributes: {}, codec: '8E' },
      // Newer, but an operator marked it faulty: never shown.
      { device_id: race.imeis[1], ts: new Date(t0 + 1000), latitude: 1, longitude: 1, altitude: 0, angle: 0, speed: 10, satellites: 9, priority: 0, attributes: {}, codec: '8E', faulty: true },
    ]);
    await xadd(stream, race.imeis[0], { ts: t0 + 5000, lat: 24.2 });
    await xadd(stream, race.imeis[0], { ts: t0 + 2000, lat: 24.0 }); // a late fix: not the newest
    await sleep(500);
    const viewer = await TestViewer.open(started.url, { authorization: `Bearer ${token}` });
    viewer.send({ type: 'subscribe', topic, id: 's' });
    const subscribed = await viewer.next((m) => m.type === 'subscribed', 'subscribed');
    const byDevice = new Map(subscribed.snapshot.map((f: any) => [f.deviceId, f]));
    expect(byDevice.get(race.imeis[0])).toMatchObject({ lat: 24.2, lon: 54.4, ts: t0 + 5000, speed: 80, course: 90 });
    expect(byDevice.get(race.imeis[1])).toMatchObject({ lat: 24.1, ts: t0 });
    expect(subscribed.snapshot).toHaveLength(2);

    const sent: string[] = [];
    for (let i = 0; i < 20; i++) sent.push(await xadd(stream, race.imeis[i % 2]!, { ts: t0 + 10_000 + i * 1000, lat: 24 + i / 1000 }));
    await xadd(stream, race.stranger, { ts: t0 + 40_000 }); // on no entry
    await xadd(stream, race.imeis[0], { ts: t0 + 41_000, lat: 0, lon: 0 }); // no GPS fix
    await xadd(stream, race.imeis[0], { ts: Date.now() + 3600_000 }); // a clock gone wrong
    await redis.xadd(stream, '*', 'device_id', race.imeis[0], 'payload', '{broken'); // malformed
    const last = await xadd(stream, race.imeis[1], { ts: t0 + 50_000, lat: 25 });
    await viewer.next((m) => m.type === 'position' && m.cursor === last, 'the last position');
    const positions = viewer.positions(topic);
    expect(positions.map((p) => p.cursor)).toEqual([...sent, last]);
    expect(positions[0]).toMatchObject({ topic, data: { deviceId: race.imeis[0], lat: 24, ts: t0 + 10_000 } });
    const metrics = await started.metrics();
    expect(metricValue(metrics, 'pitwall_gateway_skipped_entries_total{reason="no-gps-fix"}')).toBeGreaterThanOrEqual(1);
    expect(metricValue(metrics, 'pitwall_gateway_skipped_entries_total{reason="future-time"}')).toBeGreaterThanOrEqual(1);
    expect(metricValue(metrics, 'pitwall_gateway_skipped_entries_total{reason="malformed"}')).toBeGreaterThanOrEqual(1);
    // Keepalive pings come every GATEWAY_PING_MS (300 ms here).
    await waitFor(async () => viewer.pings > 0, { timeoutMs: 5_000, intervalMs: 50, what: 'a keepalive ping' });
    viewer.send({ type: 'unsubscribe', topic, id: 'u' });
    await viewer.next((m) => m.type === 'unsubscribed' && m.id === 'u', 'unsubscribed');
    const count = viewer.positions().length;
    await xadd(stream, race.imeis[0]);
    await sleep(400);
    expect(viewer.positions()).toHaveLength(count);
    viewer.close();
  });

  it('shows a tracker at its newest good fix once an operator marks its newest stream fix faulty', async () => {
    const own = await createRace();
    const topic = `event:${own.eventId}`;
    const t0 = Date.now() - 30_000;
    const row = (ts: number, latitude: number, faulty = false) => ({ device_id: own.imeis[0], ts: new Date(ts), latitude, longitude: 54.5, altitude: 0, angle: 0, speed: 10, satellites: 9, priority: 0, attributes: {}, codec: '8E', faulty });
    await db('positions').insert(row(t0, 24.5));
    await sleep(500); // the new race's trackers routed
    await xadd(stream, own.imeis[0], { ts: t0 + 5000, lat: 30 });
    // The processor stored it, and an operator marked it faulty (a clock or GPS glitch).
    await db('positions').insert(row(t0 + 5000, 30, true));
    await sleep(500); // read by the gateway
    const viewer = await TestViewer.open(started.url, { authorization: `Bearer ${token}` });
    viewer.send({ type: 'subscribe', topic, id: 's' });
    const subscribed = await viewer.next((m) => m.type === 'subscribed', 'subscribed');
    expect(subscribed.snapshot).toEqual([expect.objectContaining({ deviceId: own.imeis[0], lat: 24.5, ts: t0 })]);
    viewer.close();
  });

  it('a viewer that reconnects with since gets exactly what it missed, then live positions', async () => {
    const topic = `event:${race.eventId}`;
    const first = await TestViewer.open(started.url, { authorization: `Bearer ${token}` });
    first.send({ type: 'subscribe', topic });
    await first.next((m) => m.type === 'subscribed', 'subscribed');
    const seen = await xadd(stream, race.imeis[0]);
    await first.next((m) => m.cursor === seen, 'a live position');
    first.close();
    const missed: string[] = [];
    for (let i = 0; i < 5; i++) missed.push(await xadd(stream, race.imeis[i % 2]!));
    await xadd(stream, race.stranger);
    const again = await TestViewer.open(started.url, { authorization: `Bearer ${token}` });
    again.send({ type: 'subscribe', topic, since: seen, id: 'r' });
    const resumed = await again.next((m) => m.type === 'subscribed', 'resumed');
    expect(resumed).toMatchObject({ id: 'r', resumed: true, snapshot: [] });
    const after = await xadd(stream, race.imeis[1]);
    await again.next((m) => m.cursor === after, 'the live position after the resume');
    expect(again.positions(topic).map((p) => p.cursor)).toEqual([...missed, after]);
    again.close();
  });

  it('answers a cursor Redis would not take as a stream id (a part past 2^64-1) bad-request naming since, not unavailable', async () => {
    const topic = `event:${race.eventId}`;
    const viewer = await TestViewer.open(started.url, { authorization: `Bearer ${token}` });
    await xadd(stream, race.imeis[0]);
    for (const [id, since] of [['seq', '1796541397093-99999999999999999999'], ['ms', '18446744073709551616-0'], ['seq+1', '1796541397093-18446744073709551616']]) {
      viewer.send({ type: 'subscribe', topic, since, id });
      expect(await viewer.next((m) => m.id === id, `the answer to since ${since}`), since).toMatchObject({ type: 'error', code: 'bad-request', message: expect.stringMatching(/^since: expected a cursor/) });
    }
    // The largest stream id Redis knows is a cursor: one ahead of this stream, so resume-gap, not an error of Redis.
    viewer.send({ type: 'subscribe', topic, since: '18446744073709551615-18446744073709551615', id: 'max' });
    expect(await viewer.next((m) => m.id === 'max', 'the answer to the largest id')).toMatchObject({ type: 'error', code: 'resume-gap', message: expect.stringMatching(/is ahead of the newest position/) });
    expect(viewer.closed).toBeNull();
    viewer.close();
  });

  it('answers resume-gap when what was missed is no longer in the stream', async () => {
    const topic = `event:${race.eventId}`;
    const since = await xadd(stream, race.imeis[0]);
    const gone = await xadd(stream, race.imeis[0]);
    await redis.xdel(stream, gone);
    const viewer = await TestViewer.open(started.url, { authorization: `Bearer ${token}` });
    viewer.send({ type: 'subscribe', topic, since, id: 'g' });
    expect(await viewer.next((m) => m.id === 'g', 'resume-gap')).toMatchObject({ type: 'error', code: 'resume-gap', message: expect.stringMatching(/are no longer kept/) });
    // A cursor ahead of anything the stream has had is not called lost: it is not one of this stream's.
    viewer.send({ type: 'subscribe', topic, since: '9999999999999-0', id: 'ahead' });
    expect(await viewer.next((m) => m.id === 'ahead', 'resume-gap ahead')).toMatchObject({
      type: 'error', code: 'resume-gap', message: expect.stringMatching(/^9999999999999-0 is ahead of the newest position the stream has had .*; subscribe again without "since"/),
    });
    viewer.send({ type: 'subscribe', topic, id: 'fresh' });
    expect(await viewer.next((m) => m.id === 'fresh', 'a snapshot instead')).toMatchObject({ type: 'subscribed' });
    viewer.close();
  });

  it('resumes within GATEWAY_RESUME_MAX_ENTRIES entries of the stream, and answers resume-gap further back', async () => {
    const limited = await startGateway({ REDIS_TELEMETRY_STREAM: stream, GATEWAY_RESUME_MAX_ENTRIES: '6' });
    const topic = `event:${race.eventId}`;
    const live = await TestViewer.open(limited.url, { authorization: `Bearer ${token}` });
    try {
      live.send({ type: 'subscribe', topic });
      await live.next((m) => m.type === 'subscribed', 'subscribed');
      const since = await xadd(stream, race.imeis[0]);
      // Six entries after the cursor, three of them of a tracker on no entry: the limit counts the stream's entries.
      for (let i = 0; i < 3; i++) await xadd(stream, race.stranger);
      const missed: string[] = [];
      for (let i = 0; i < 3; i++) missed.push(await xadd(stream, race.imeis[i % 2]!));
      await live.next((m) => m.cursor === missed.at(-1), 'the last position live');
      const within = await TestViewer.open(limited.url, { authorization: `Bearer ${token}` });
      within.send({ type: 'subscribe', topic, since, id: 'within' });
      expect(await within.next((m) => m.id === 'within', 'resumed')).toMatchObject({ type: 'subscribed', resumed: true });
      await within.next((m) => m.cursor === missed.at(-1), 'what it missed');
      expect(within.positions(topic).map((p) => p.cursor)).toEqual(missed);
      within.close();

      const seventh = await xadd(stream, race.imeis[0]);
      await live.next((m) => m.cursor === seventh, 'the seventh position live');
      const behind = await TestViewer.open(limited.url, { authorization: `Bearer ${token}` });
      behind.send({ type: 'subscribe', topic, since, id: 'behind' });
      const gap = await behind.next((m) => m.id === 'behind', 'resume-gap');
      expect(gap).toMatchObject({ type: 'error', code: 'resume-gap', message: expect.stringMatching(/^more than 6 positions came after .+; subscribe again without "since"/) });
      expect(behind.positions()).toEqual([]);
      behind.send({ type: 'subscribe', topic, id: 'snapshot' });
      expect(await behind.next((m) => m.id === 'snapshot', 'a snapshot instead')).toMatchObject({ type: 'subscribed', cursor: expect.any(String) });
      behind.close();
    } finally {
      live.close();
      await limited.gateway.close();
    }
  });

  it('answers resume-gap to a cursor of a stream Redis lost, also once the new stream has positions', async () => {
    const own = `test:telemetry:${randomUUID()}`;
    const gateway = await startGateway({ REDIS_TELEMETRY_STREAM: own });
    const topic = `event:${race.eventId}`;
    const live = await TestViewer.open(gateway.url, { authorization: `Bearer ${token}` });
    const resume = async (since: string, id: string) => {
      const viewer = await TestViewer.open(gateway.url, { authorization: `Bearer ${token}` });
      viewer.send({ type: 'subscribe', topic, since, id });
      const answer = await viewer.next((m) => m.id === id, id);
      viewer.close();
      return answer;
    };
    try {
      live.send({ type: 'subscribe', topic });
      await live.next((m) => m.type === 'subscribed', 'subscribed');
      const seen = await xadd(own, race.imeis[0]);
      await live.next((m) => m.cursor === seen, 'a live position');
      // Redis restarts without its data: the stream, and what the viewer had not read of it, are gone.
      await redis.del(own);
      expect(await resume(seen, 'no-stream')).toMatchObject({ type: 'error', code: 'resume-gap' });
      // The trackers go on sending; the new stream starts after the old cursor and has never lost an entry.
      const after = await xadd(own, race.imeis[1]);
      await live.next((m) => m.cursor === after, 'a live position on the new stream');
      expect(await resume(seen, 'new-stream')).toMatchObject({ type: 'error', code: 'resume-gap' });
      // A cursor of the new stream resumes, and so does one given while the stream was empty.
      expect(await resume(after, 'of-new')).toMatchObject({ type: 'subscribed', resumed: true });
      expect(await resume('0-0', 'from-empty')).toMatchObject({ type: 'subscribed', resumed: true });
    } finally {
      live.close();
      await gateway.gateway.close();
      await redis.del(own);
    }
  });

  it('follows a tracker moved to another event without a restart', async () => {
    const other = await createRace();
    const viewer = await TestViewer.open(started.url, { authorization: `Bearer ${token}` });
    viewer.send({ type: 'subscribe', topic: `event:${other.eventId}` });
    await viewer.next((m) => m.type === 'subscribed', 'subscribed');
    const before = await xadd(stream, race.imeis[0]);
    // The tracker joins an entry of the other event (its first entry stays: it is now on both).
    const entry = (await db('entries').where({ event: other.eventId }).first('id')).id;
    const device = (await db('devices').where({ imei: race.imeis[0] }).first('id')).id;
    await db('entry_devices').insert({ id: randomUUID(), entry, device });
    await sleep(800);
    const after = await xadd(stream, race.imeis[0]);
    await viewer.next((m) => m.cursor === after, 'the moved tracker on the other event');
    expect(viewer.positions().map((p) => p.cursor)).not.toContain(before);
    viewer.close();
  });

  it('closes a viewer that cannot keep up, while the others receive everything', async () => {
    await started.gateway.close();
    // The default limit (1 MiB): the fast viewer, read in this same process between the gateway's batches, never
    // has that much waiting; the paused one has once the kernel's socket buffers are full.
    started = await startGateway({ REDIS_TELEMETRY_STREAM: stream });
    const topic = `event:${race.eventId}`;
    const slow = await TestViewer.open(started.url, { authorization: `Bearer ${token}` });
    const fast = await TestViewer.open(started.url, { authorization: `Bearer ${token}` });
    for (const v of [slow, fast]) {
      v.send({ type: 'subscribe', topic });
      await v.next((m) => m.type === 'subscribed', 'subscribed');
    }
    // The slow viewer stops reading: its socket is paused, so the kernel's buffers fill and then the gateway's.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const n = 30_000;
    for (let i = 0; i < n; i += 1000) {
      const pipe = redis.pipeline();
      for (let j = i; j < i + 1000; j++) pipe.xadd(stream, '*', ...entryFields(race.imeis[j % 2]!, { ts: Date.now() - 60_000 + j }));
      await pipe.exec();
    }
    await waitFor(async () => fast.positions(topic).length === n, { timeoutMs: 60_000, intervalMs: 100, what: `all ${n} positions at the fast viewer` });
    const metrics = await started.metrics();
    expect(metricValue(metrics, 'pitwall_gateway_slow_clients_dropped_total')).toBe(1);
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await waitFor(async () => slow.closed ?? undefined, { timeoutMs: 10_000, what: 'the slow viewer closed' });
    expect([4008, 1006]).toContain(slow.closed!.code);
    expect(slow.positions(topic).length).toBeLessThan(n);
    expect(fast.closed).toBeNull();
    fast.close();
  }, 120_000);
});

/** Directus's event checks, held back `delayMs` each, counted, with the most there were under way at once. */
function countedEventChecks(delayMs: number) {
  const stats = { calls: 0, underWay: 0, mostUnderWay: 0 };
  const fetchImpl = (async (input: URL, init?: RequestInit) => {
    if (!input.pathname.startsWith('/items/events/')) return fetch(input, init);
    stats.calls++;
    stats.underWay++;
    stats.mostUnderWay = Math.max(stats.mostUnderWay, stats.underWay);
    try {
      await sleep(delayMs);
      return await fetch(input, init);
    } finally {
      stats.underWay--;
    }
  }) as typeof fetch;
  return { stats, fetchImpl };
}

/**
 * Waits until `calls` Directus lookups were made and none is under way: a cancelled subscribe is answered at once, and
 * its lookup goes on (and holds its place under GATEWAY_MAX_SUBSCRIPTIONS) until Directus answers.
 */
async function lookupsDone(stats: { calls: number; underWay: number }, calls: number): Promise<void> {
  await waitFor(async () => stats.calls >= calls && stats.underWay === 0, { timeoutMs: 30_000, what: `${calls} Directus lookups done` });
  await sleep(50);
}

/** Waits for an answer (with its id) to each of the subscribes numbered 1 to `n`. */
async function answersTo(viewer: TestViewer, n: number, timeoutMs = 30_000): Promise<any[]> {
  return waitFor(async () => {
    const answers = viewer.messages.filter((m) => (m.type === 'error' || m.type === 'subscribed') && typeof m.id === 'number');
    return answers.length >= n && answers;
  }, { timeoutMs, what: `answers to ${n} subscribes` });
}

const tally = (answers: any[]) => answers.reduce<Record<string, number>>((counts, m) => ({ ...counts, [m.code ?? m.type]: (counts[m.code ?? m.type] ?? 0) + 1 }), {});

describe('live gateway: what viewers can make it ask of Directus', () => {
  const stream = `test:telemetry:${randomUUID()}`;
  afterAll(async () => {
    await redis.del(stream);
  });

  it('bounds what subscribe/unsubscribe pairs of one viewer cost Directus, and answers the excess rate-limited with when to retry', async () => {
    // The tester's flood (500 pairs of random events every 0.5 s), with the default limits.
    const directus = countedEventChecks(100);
    const gateway = await startGateway({ REDIS_TELEMETRY_STREAM: stream }, directus.fetchImpl);
    const viewer = await TestViewer.open(gateway.url, { authorization: `Bearer ${token}` });
    try {
      let n = 0;
      const started = performance.now();
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < 500; i++) {
          const topic = `event:${randomUUID()}`;
          viewer.send({ type: 'subscribe', topic, id: ++n });
          viewer.send({ type: 'unsubscribe', topic });
        }
        await sleep(500);
      }
      const answers = await answersTo(viewer, n);
      const seconds = (performance.now() - started) / 1000;
      const counts = tally(answers);
      // A burst of GATEWAY_MAX_SUBSCRIPTIONS (50), then 5 a second: not one Directus call per subscribe.
      expect(directus.stats.calls).toBeLessThanOrEqual(50 + Math.ceil(5 * seconds) + 1);
      expect(directus.stats.mostUnderWay).toBeLessThanOrEqual(10);
      // Those Directus was asked about were unsubscribed before it answered: cancelled, each answered once.
      await lookupsDone(directus.stats, counts['cancelled'] ?? 0);
      expect(counts['cancelled']).toBe(directus.stats.calls);
      expect(counts['rate-limited']).toBeGreaterThan(0);
      expect((counts['rate-limited'] ?? 0) + (counts['too-many-subscriptions'] ?? 0) + counts['cancelled']!).toBe(n);
      const limited = answers.filter((m) => m.code === 'rate-limited');
      for (const m of limited) {
        expect(m).toMatchObject({ type: 'error', id: expect.any(Number), retryAfterMs: expect.any(Number), message: expect.stringMatching(/^too many subscribe and playback requests on this connection \(50 at once, then 5 a second\): retry in \d+ ms$/) });
        expect(m.retryAfterMs).toBeGreaterThan(0);
        expect(m.retryAfterMs).toBeLessThanOrEqual(200);
      }
      expect(metricValue(await gateway.metrics(), 'pitwall_gateway_rate_limited_total{request="subscribe"}')).toBe(limited.length);
      // The connection stays, and a subscribe after the wait it was told is answered.
      expect(viewer.closed).toBeNull();
      await sleep(limited.at(-1).retryAfterMs);
      viewer.send({ type: 'subscribe', topic: `event:${race.eventId}`, id: 'after' });
      expect(await viewer.next((m) => m.id === 'after', 'the subscribe after the wait')).toMatchObject({ type: 'subscribed' });
    } finally {
      viewer.close();
      await gateway.gateway.close();
    }
  }, 60_000);

  it('counts subscribes still being checked against GATEWAY_MAX_SUBSCRIPTIONS, also once unsubscribed', async () => {
    const directus = countedEventChecks(300);
    // A budget that does not get in the way: only the topic limit is at work here.
    const gateway = await startGateway({ REDIS_TELEMETRY_STREAM: stream, GATEWAY_MAX_SUBSCRIPTIONS: '3', GATEWAY_SUBSCRIBE_BURST: '1000' }, directus.fetchImpl);
    const viewer = await TestViewer.open(gateway.url, { authorization: `Bearer ${token}` });
    try {
      for (let n = 1; n <= 10; n++) {
        const topic = `event:${randomUUID()}`;
        viewer.send({ type: 'subscribe', topic, id: n });
        viewer.send({ type: 'unsubscribe', topic });
      }
      const answers = await answersTo(viewer, 10);
      expect(tally(answers)).toEqual({ cancelled: 3, 'too-many-subscriptions': 7 });
      await lookupsDone(directus.stats, 3);
      expect(directus.stats.calls).toBe(3);
      // Once they are answered, their places are free again.
      viewer.send({ type: 'subscribe', topic: `event:${race.eventId}`, id: 11 });
      expect(await viewer.next((m) => m.id === 11, 'a subscribe once the checks are done')).toMatchObject({ type: 'subscribed' });
    } finally {
      viewer.close();
      await gateway.gateway.close();
    }
  });

  it('has at most GATEWAY_DIRECTUS_MAX_IN_FLIGHT lookups under way over all viewers, and answers unavailable past the queue', async () => {
    const directus = countedEventChecks(300);
    const gateway = await startGateway({ REDIS_TELEMETRY_STREAM: stream, GATEWAY_DIRECTUS_MAX_IN_FLIGHT: '2', GATEWAY_DIRECTUS_MAX_QUEUED: '3' }, directus.fetchImpl);
    const viewers = await Promise.all(Array.from({ length: 3 }, () => TestViewer.open(gateway.url, { authorization: `Bearer ${token}` })));
    try {
      for (const viewer of viewers) for (let n = 1; n <= 4; n++) viewer.send({ type: 'subscribe', topic: `event:${randomUUID()}`, id: n });
      const answers = (await Promise.all(viewers.map((viewer) => answersTo(viewer, 4)))).flat();
      expect(tally(answers)).toEqual({ 'not-found': 5, unavailable: 7 });
      expect(directus.stats.mostUnderWay).toBe(2);
      expect(directus.stats.calls).toBe(5);
      for (const m of answers.filter((a) => a.code === 'unavailable')) expect(m.message).toMatch(/^cannot check access to the event now: the gateway has too many Directus lookups under way/);
      expect(metricValue(await gateway.metrics(), 'pitwall_gateway_directus_lookups_shed_total{kind="event",reason="queue-full"}')).toBe(7);
      for (const viewer of viewers) expect(viewer.closed).toBeNull();
    } finally {
      for (const viewer of viewers) viewer.close();
      await gateway.gateway.close();
    }
  });
});

describe('live gateway restarted under the same INSTANCE_ID after a crash', () => {
  it('starts at the stream\'s end: viewers get a snapshot, not the backlog', async () => {
    const stream = `test:telemetry:${randomUUID()}`;
    const instance = `crashed-${randomUUID().slice(0, 8)}`;
    // The group a crashed instance left behind, far behind the stream's end.
    await redis.xgroup('CREATE', stream, `live-broadcast-${instance}`, '$', 'MKSTREAM');
    for (let i = 0; i < 50; i++) await xadd(stream, race.imeis[0], { ts: Date.now() - 100_000 + i * 1000 });
    const started = await startGateway({ REDIS_TELEMETRY_STREAM: stream, INSTANCE_ID: instance });
    try {
      const viewer = await TestViewer.open(started.url, { authorization: `Bearer ${token}` });
      viewer.send({ type: 'subscribe', topic: `event:${race.eventId}` });
      await viewer.next((m) => m.type === 'subscribed', 'subscribed');
      const now = await xadd(stream, race.imeis[1]);
      await viewer.next((m) => m.cursor === now, 'the new position');
      expect(viewer.positions().map((p) => p.cursor)).toEqual([now]);
      // The backlog was never read: the only entry the feed handled is the new one.
      expect(metricValue(await started.metrics(), 'pitwall_gateway_entry_age_seconds_count')).toBe(1);
      viewer.close();
    } finally {
      await started.gateway.close();
      await redis.del(stream);
    }
  });
});

describe('live gateway with Directus unreachable', () => {
  const stream = `test:telemetry:${randomUUID()}`;
  const proxy = new TcpProxy(Number(new URL(stack.directusUrl).port));
  let started: Awaited<ReturnType<typeof startGateway>>;
  beforeAll(async () => {
    await proxy.start();
    started = await startGateway({ REDIS_TELEMETRY_STREAM: stream, DIRECTUS_URL: `http://127.0.0.1:${proxy.port}`, GATEWAY_DIRECTUS_TIMEOUT_MS: '1000' });
  });
  afterAll(async () => {
    await started.gateway.close();
    await proxy.stop();
    await redis.del(stream);
  });

  it('keeps serving connected viewers, and tells new ones clearly', async () => {
    const topic = `event:${race.eventId}`;
    const viewer = await TestViewer.open(started.url, { authorization: `Bearer ${token}` });
    viewer.send({ type: 'subscribe', topic });
    await viewer.next((m) => m.type === 'subscribed', 'subscribed');
    await proxy.stop();

    const during = await xadd(stream, race.imeis[0]);
    await viewer.next((m) => m.cursor === during, 'a position while Directus is down');
    // A subscribe that needs Directus gets an error it can show; the connection stays.
    const other = await createRace();
    viewer.send({ type: 'subscribe', topic: `event:${other.eventId}`, id: 'x' });
    expect(await viewer.next((m) => m.id === 'x', 'unavailable')).toMatchObject({ type: 'error', code: 'unavailable' });
    // A new viewer with credentials the gateway never saw: 503 with the reason.
    const stranger = await refused(started.url, { authorization: `Bearer never-seen-${randomUUID()}` });
    expect(stranger.status).toBe(503);
    expect(stranger.body.error).toMatch(/Directus could not be reached/);
    expect(viewer.closed).toBeNull();

    await proxy.start(proxy.port);
    const back = await TestViewer.open(started.url, { authorization: `Bearer ${token}` });
    back.send({ type: 'subscribe', topic: `event:${other.eventId}`, id: 'y' });
    expect(await back.next((m) => m.id === 'y', 'subscribed once Directus is back')).toMatchObject({ type: 'subscribed' });
    back.close();
    viewer.close();
  });
});

describe('live gateway: Redis restarted without its data', () => {
  it('keeps its viewers and sends them what the trackers send after the restart', async () => {
    const privateRedis = await PrivateRedis.start();
    const own = new Redis(privateRedis.url, { maxRetriesPerRequest: null });
    own.on('error', () => undefined);
    const stream = `test:telemetry:${randomUUID()}`;
    const started = await startGateway({ REDIS_URL: privateRedis.url, REDIS_TELEMETRY_STREAM: stream });
    try {
      const topic = `event:${race.eventId}`;
      const viewer = await TestViewer.open(started.url, { authorization: `Bearer ${token}` });
      viewer.send({ type: 'subscribe', topic });
      await viewer.next((m) => m.type === 'subscribed', 'subscribed');
      const before = (await own.xadd(stream, '*', ...entryFields(race.imeis[0], { lat: 24.3 }))) as string;
      await viewer.next((m) => m.cursor === before, 'a position before the restart');

      await privateRedis.restart(500);
      // The stream and the gateway's group are gone; the trackers' next entries make the stream again.
      const after: string[] = [];
      for (let i = 0; i < 3; i++) after.push((await own.xadd(stream, '*', ...entryFields(race.imeis[1], { lat: 24.4 + i / 100 }))) as string);
      await viewer.next((m) => m.cursor === after[2], 'the positions sent after the restart', 20_000);
      expect(viewer.positions(topic).map((p) => p.cursor)).toEqual([before, ...after]);
      expect(viewer.closed).toBeNull();
      viewer.close();
    } finally {
      await started.gateway.close();
      own.disconnect();
      await privateRedis.remove();
    }
  }, 60_000);
});

describe('live gateway: its health and lag', () => {
  it('reads its lag at each scrape, and says redis-unreachable as a bare code with the error beside it', async () => {
    const privateRedis = await PrivateRedis.start();
    const stream = `test:telemetry:${randomUUID()}`;
    const started = await startGateway({ REDIS_URL: privateRedis.url, REDIS_TELEMETRY_STREAM: stream });
    try {
      expect(await started.gateway.health()).toMatchObject({ ok: true, reasons: [], lag: 0 });
      await privateRedis.stop();
      // Scraped without /healthz being asked: a lag nobody can read is NaN, not the last figure seen.
      expect(await started.metrics()).toMatch(/^pitwall_gateway_stream_lag_entries Nan$/m);
      expect(await started.gateway.health()).toMatchObject({ ok: false, reasons: ['redis-unreachable'], lag: null, errors: { redis: expect.any(String) } });
    } finally {
      await started.gateway.close();
      await privateRedis.remove();
    }
  }, 30_000);
});

describe('pitwall gateway as a process', () => {
  it('refuses to start without DIRECTUS_URL and names the variable', async () => {
    const child = spawn(join(repoRoot, 'bin/pitwall'), ['gateway'], { env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: stack.databaseUrl }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(78);
    expect(stderr).toMatch(/invalid configuration: DIRECTUS_URL: is required/);
  });

  it('sweeps the groups of instances that are gone, drains on SIGTERM and takes its own group with it', async () => {
    const stream = `test:telemetry:${randomUUID()}`;
    const port = await freePort();
    const metricsPort = await freePort();
    await redis.xgroup('CREATE', stream, 'live-broadcast-gone-instance', '$', 'MKSTREAM');
    await redis.xgroup('CREATE', stream, 'processor', '$');
    const child = spawn(join(repoRoot, 'bin/pitwall'), ['gateway'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DATABASE_URL: stack.processorDatabaseUrl,
        REDIS_URL,
        REDIS_TELEMETRY_STREAM: stream,
        DIRECTUS_URL: stack.directusUrl,
        LIVE_WS_PORT: String(port),
        METRICS_PORT: String(metricsPort),
        INSTANCE_ID: 'one',
        GATEWAY_INSTANCE_TTL_MS: '900',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (chunk) => (log += chunk));
    try {
      const health = await waitFor(async () => {
        const res = await fetch(`http://127.0.0.1:${metricsPort}/healthz`).catch(() => null);
        return res?.ok ? res.json() : undefined;
      }, { what: 'gateway healthz', timeoutMs: 30_000 });
      expect(health).toMatchObject({ ok: true, group: 'live-broadcast-one', connections: 0 });
      const started = log.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.msg === 'live gateway listening');
      expect(started).toMatchObject({ stream, group: 'live-broadcast-one' });
      const groups = async () => ((await redis.xinfo('GROUPS', stream)) as unknown[][]).map((g) => String(g[1])).sort();
      await waitFor(async () => !(await groups()).includes('live-broadcast-gone-instance'), { timeoutMs: 10_000, what: 'the gone instance\'s group swept' });
      expect(await groups()).toEqual(['live-broadcast-one', 'processor']);

      const viewer = await TestViewer.open(`ws://127.0.0.1:${port}/ws-live`, { authorization: `Bearer ${token}` });
      child.kill('SIGTERM');
      await waitFor(async () => viewer.closed ?? undefined, { timeoutMs: 10_000, what: 'the viewer told to go' });
      expect(viewer.closed).toMatchObject({ code: 1001, reason: expect.stringMatching(/resume with "since"/) });
      const code = await new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve)));
      expect(code).toBe(0);
      expect(await groups()).toEqual(['processor']);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await redis.del(stream);
    }
  }, 60_000);
});
