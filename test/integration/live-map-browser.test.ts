import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { pino } from 'pino';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { stageCourses } from '../../src/demo/course.ts';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import { factId } from '../../src/domain/pipeline/fact-ids.ts';
import { factKey, type CrossingFact, type StageResultFact } from '../../src/domain/pipeline/facts.ts';
import type { Position } from '../../src/domain/position.ts';
import { formatRaceTime } from '../../src/domain/timing/format-race-time.ts';
import { formatTimeOfDay } from '../../src/domain/timing/format-time-of-day.ts';
import { loadGatewayConfig } from '../../src/gateway/config.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { toStreamFields } from '../../src/simulator/publish.ts';
import { simulateRace } from '../../src/simulator/race-schedule.ts';
import { insertPositions } from '../../src/store/positions.ts';
import { artifactsDir, launchBrowser, loginToDirectus, screenshot } from '../support/browser.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { freePort, REDIS_URL } from '../support/stack.ts';

const stack = inject('stack');
const event = demoId('event');
const topic = `event:${event}`;
const ss1 = demoId('stage:ss1');
const ss2 = demoId('stage:ss2');
const ss1Name = stageCourses.find((c) => c.key === 'ss1')!.name;
const ss2Name = stageCourses.find((c) => c.key === 'ss2')!.name;
/** #101-#105 drive live; #105's tracker goes quiet; #104 is running on SS2 by the stored results. */
const liveCrews = demoEntries.slice(0, 5);
const quiet = liveCrews[4]!;
const onStage = liveCrews[3]!;
/** #101-#103 drove SS1 two days ago: their stored positions are what the playback plays. */
const playedCrews = demoEntries.slice(0, 3);
const SPEED_UP = 10;
const STALE_SECONDS = 5;
const DAY = 24 * 3_600_000;

type Message = Record<string, any>;
interface CarOnMap {
  device: string;
  raceNumber: number;
  ts: number;
  lat: number;
  lon: number;
  x: number;
  y: number;
  stale: boolean;
}

/**
 * The demo's tracks written to the stream as if live: SPEED_UP times as fast as they were driven, each fix stamped
 * with the wall clock when it is sent (the gateway refuses fixes from the future). Only the fixes on the move, each
 * car looping over its own run, so every car is always driving somewhere (and the cars keep their spacing).
 */
class LiveDrive {
  /** Every fix sent, by tracker: `${ts}|${lat}|${lon}`. */
  readonly sent = new Map<string, Set<string>>();
  readonly silenced = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(private readonly redis: Redis, private readonly stream: string, readonly race: Position[]) {}

  start(): void {
    const tracks = new Map<string, Position[]>();
    for (const fix of this.race) if (fix.speed >= 20) tracks.set(fix.deviceId, [...(tracks.get(fix.deviceId) ?? []), fix]);
    // From when the last car is on its way: all of them are on the road, a start interval apart.
    const simStart = Math.max(...[...tracks.values()].map((own) => own[0]!.ts));
    const cars = [...tracks.values()].map((own) => ({ own, i: own.findIndex((f) => f.ts >= simStart), lap: 0, cycle: own.at(-1)!.ts - own[0]!.ts + 1000 }));
    const wallStart = Date.now();
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      const simNow = simStart + (Date.now() - wallStart) * SPEED_UP;
      const pipeline = this.redis.pipeline();
      for (const car of cars) {
        while (car.own[car.i]!.ts + car.lap * car.cycle <= simNow) {
          const fix = car.own[car.i]!;
          const ts = Math.round(wallStart + (fix.ts + car.lap * car.cycle - simStart) / SPEED_UP);
          if (!this.silenced.has(fix.deviceId)) {
            pipeline.xadd(this.stream, '*', ...toStreamFields({ ...fix, ts }));
            const own = this.sent.get(fix.deviceId) ?? new Set<string>();
            own.add(`${ts}|${fix.latitude}|${fix.longitude}`);
            this.sent.set(fix.deviceId, own);
          }
          if (++car.i === car.own.length) {
            car.i = 0;
            car.lap++;
          }
        }
      }
      pipeline.exec().finally(() => (this.busy = false));
    }, 100);
  }

  /** Whether the map shows a fix this drive sent for the car's tracker (not a played-back one, not a made-up one). */
  sentFix(car: CarOnMap): boolean {
    return this.sent.get(car.device)?.has(`${car.ts}|${car.lat}|${car.lon}`) ?? false;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** A viewer outside the browser, on the live topic, with an admin token: what everybody else watching the event gets. */
class Viewer {
  readonly messages: Message[] = [];
  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => this.messages.push(JSON.parse(String(data))));
  }

  static async open(url: string, token: string): Promise<Viewer> {
    const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const viewer = new Viewer(socket);
    socket.send(JSON.stringify({ type: 'subscribe', topic, id: 'other' }));
    return viewer;
  }

  close(): void {
    this.socket.close();
  }
}

/**
 * The pitwall-live-map panel of the Race Control dashboard, in a real browser, signed in as a Race Control user whose
 * Directus session cookie the browser sends to a gateway started here (on another port of the same host name): the
 * demo's cars move on the course, a quiet tracker is greyed out, a click shows a car's last fix and stage, a stored
 * stage plays back at 10× beside the untouched live topic, and the map resumes when the gateway restarts.
 */
describe('the live map on the Race Control dashboard', () => {
  const stream = `test:telemetry:${randomUUID()}`;
  let redis: Redis;
  let db: Knex;
  let token: string;
  let gateway: Gateway | null = null;
  let gatewayPort: number;
  let drive: LiveDrive | null = null;
  let viewer: Viewer | null = null;
  let browser: Browser | null = null;
  let session: BrowserContext | null = null;
  let page: Page;
  let dashboard: string;
  let livePanel: { id: string; options: Record<string, unknown> } | null = null;
  let steward: { id: string; email: string; password: string } | null = null;
  let stored: Position[] = [];
  let storedFacts: (CrossingFact | StageResultFact)[] = [];
  /** What the page sent to and received from the gateway, in order. */
  const sentFrames: Message[] = [];
  const receivedFrames: Message[] = [];

  const panel = () => page.getByTestId('pitwall-live-map');
  const state = () => panel().getByTestId('pitwall-live-state');

  async function cars(): Promise<Record<number, CarOnMap>> {
    const list = await panel()
      .getByTestId('pitwall-live-car')
      .evaluateAll((els) => els.map((e) => ({ ...(e as unknown as { dataset: Record<string, string> }).dataset })));
    return Object.fromEntries(
      list.map((d) => [Number(d['raceNumber']), { device: d['device']!, raceNumber: Number(d['raceNumber']), ts: Number(d['ts']), lat: Number(d['lat']), lon: Number(d['lon']), x: Number(d['x']), y: Number(d['y']), stale: d['stale'] === 'true' }]),
    );
  }
  const raceNumbers = async () => Object.keys(await cars()).map(Number).sort();

  async function startGateway(): Promise<Gateway> {
    const started = new Gateway(
      loadGatewayConfig({
        DATABASE_URL: stack.processorDatabaseUrl,
        REDIS_URL,
        REDIS_TELEMETRY_STREAM: stream,
        DIRECTUS_URL: stack.directusUrl,
        LIVE_WS_PORT: String(gatewayPort),
        METRICS_PORT: String(await freePort()),
        INSTANCE_ID: `live-map-test-${randomBytes(3).toString('hex')}`,
        LOG_LEVEL: 'silent',
        GATEWAY_BLOCK_MS: '200',
        GATEWAY_DRAIN_MS: '1000',
      }),
      pino({ level: 'silent' }),
    );
    await started.start();
    return started;
  }

  /** Opens a Directus v-select of the panel and clicks the item with this text. */
  async function pick(testid: string, text: string): Promise<void> {
    await page.locator(`[data-testid="${testid}"] .v-input`).click();
    const item = page.locator('.v-menu-content .v-list-item').filter({ hasText: text }).first();
    await item.waitFor({ state: 'visible', timeout: 10_000 });
    await item.click();
    await page.locator('.v-menu-content').waitFor({ state: 'detached', timeout: 5_000 }).catch(() => undefined);
  }

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    token = await adminToken(stack);

    // A stored SS1 two days ago, as the processor would have left it: positions, start and finish crossings, results.
    const storedFrom = Math.floor((Date.now() - 2 * DAY) / 1000) * 1000;
    stored = simulateRace({ start: storedFrom, entries: playedCrews.length, stages: ['ss1'], intervalSeconds: 5, seed: 5 });
    await insertPositions(db, stored);
    const startGate = demoId('geofence:ss1:start');
    const finishGate = demoId('geofence:ss1:finish');
    for (const crew of playedCrews) {
      const own = stored.filter((f) => f.deviceId === crew.imei);
      const [startedAt, finishedAt] = [own[0]!.ts + 40_000, own.at(-1)!.ts - 10_000];
      const crossing = (gateId: string, kind: 'start' | 'finish', at: number): CrossingFact => ({
        type: 'crossing', key: factKey.crossing(crew.id, gateId, at), entryId: crew.id, stageId: ss1, gateId, deviceId: crew.imei, kind, crossedAt: at, speedKmh: 60,
      });
      storedFacts.push(crossing(startGate, 'start', startedAt), crossing(finishGate, 'finish', finishedAt), {
        type: 'stage_result', key: factKey.stageResult(crew.id, ss1), entryId: crew.id, stageId: ss1, status: 'finished',
        startedAt, finishedAt, elapsedMs: finishedAt - startedAt, penaltyMs: 0, totalMs: finishedAt - startedAt,
      });
    }
    const onStageSince = Math.floor((Date.now() - 5 * 60_000) / 1000) * 1000;
    storedFacts.push({ type: 'stage_result', key: factKey.stageResult(onStage.id, ss2), entryId: onStage.id, stageId: ss2, status: 'running', startedAt: onStageSince, finishedAt: null, elapsedMs: null, penaltyMs: 0, totalMs: null });
    const facts = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: `live-map-${randomBytes(4).toString('hex')}`, source: 'live', upserts: storedFacts, retractions: [] } });
    expect(facts.status, facts.text).toBe(200);

    gatewayPort = await freePort();
    gateway = await startGateway();

    // The dashboard's live map, pointed at this gateway (the same host name as Directus, so the session cookie goes
    // along), greying out after a few seconds so the test need not wait a minute.
    const dashboards = await call(stack, `/dashboards?filter[name][_eq]=Race Control&fields=id,panels.id,panels.type,panels.options`, { token });
    dashboard = dashboards.json.data[0].id;
    livePanel = dashboards.json.data[0].panels.find((p: { type: string }) => p.type === 'pitwall-live-map');
    expect(livePanel, 'setup put a live map on the dashboard').toBeTruthy();
    const options = { ...livePanel!.options, gatewayUrl: `ws://127.0.0.1:${gatewayPort}/ws-live`, staleSeconds: STALE_SECONDS };
    expect((await call(stack, `/panels/${livePanel!.id}`, { token, method: 'PATCH', body: { options } })).status).toBe(200);

    const role = (await call(stack, '/roles?filter[name][_eq]=Race Control&fields=id', { token })).json.data[0].id;
    const credentials = { email: `live-map-${randomUUID().slice(0, 8)}@pitwall.example.com`, password: randomBytes(16).toString('hex') };
    const user = await call(stack, '/users', { token, body: { ...credentials, role, status: 'active' } });
    expect(user.status, user.text).toBe(200);
    steward = { id: user.json.data.id, ...credentials };

    // The demo's first five crews on SS1.
    drive = new LiveDrive(redis, stream, simulateRace({ start: 0, entries: liveCrews.length, stages: ['ss1'], seed: 21 }));
    drive.start();

    browser = await launchBrowser();
    session = await browser.newContext({ viewport: { width: 1920, height: 1200 }, timezoneId: 'UTC' });
    page = await session.newPage();
    page.on('websocket', (socket) => {
      if (!socket.url().includes(`:${gatewayPort}/`)) return;
      socket.on('framesent', (frame) => sentFrames.push(JSON.parse(String(frame.payload))));
      socket.on('framereceived', (frame) => receivedFrames.push(JSON.parse(String(frame.payload))));
    });
    await loginToDirectus(page, stack, steward);
  }, 240_000);

  afterAll(async () => {
    drive?.stop();
    viewer?.close();
    await session?.close();
    await browser?.close();
    await gateway?.close();
    if (livePanel) await call(stack, `/panels/${livePanel.id}`, { token, method: 'PATCH', body: { options: livePanel.options } });
    if (steward) await call(stack, `/users/${steward.id}`, { token, method: 'DELETE' });
    const ids = (type: string) => storedFacts.filter((f) => f.type === type).map((f) => factId(f.key));
    await db('entry_crossings').whereIn('id', ids('crossing')).delete();
    await db('stage_results').whereIn('id', ids('stage_result')).delete();
    await db('race_events').whereIn('entry', liveCrews.map((c) => c.id)).delete();
    if (stored.length > 0) await db('positions').whereIn('device_id', playedCrews.map((c) => c.imei)).whereBetween('ts', [new Date(stored[0]!.ts), new Date(stored.at(-1)!.ts)]).delete();
    await redis?.del(stream);
    redis?.disconnect();
    await db?.destroy();
  });

  it('shows the demo’s cars moving on the course with their race numbers, and greys out a tracker that went quiet', async () => {
    const opened = performance.now();
    await page.goto(`${stack.directusUrl}/admin/insights/${dashboard}`);
    await expect.poll(() => state().getAttribute('data-state'), { timeout: 30_000 }).toBe('connected');
    console.info(`live map: connected ${performance.now() - opened} ms after the dashboard was opened`);
    expect(await state().innerText()).toBe(`Live: connected to ws://127.0.0.1:${gatewayPort}/ws-live`);
    expect(sentFrames[0]).toEqual({ type: 'subscribe', topic, id: 'live' });

    // The course as the race setup has it: every gate, zone and waypoint of the event.
    const geofences = await db('geofences').where({ event }).select('kind');
    const waypoints = await db('waypoints as w').join('stages as s', 's.id', 'w.stage').where('s.event', event).count<{ n: string }[]>('* as n');
    expect(await panel().getByTestId('pitwall-course-gate').count()).toBe(geofences.filter((g) => g.kind.endsWith('_line')).length);
    expect(await panel().getByTestId('pitwall-course-zone').count()).toBe(geofences.filter((g) => !g.kind.endsWith('_line')).length);
    expect(await panel().getByTestId('pitwall-course-waypoint').count()).toBe(Number(waypoints[0]!.n));

    // Every live crew, labelled with its race number, at a fix the stream carried.
    await expect.poll(raceNumbers, { timeout: 15_000 }).toEqual(liveCrews.map((c) => c.raceNumber));
    const labels = await panel().locator('[data-testid="pitwall-live-car"] .label').allTextContents();
    expect(labels).toEqual(liveCrews.map((c) => `#${c.raceNumber}`));
    await expect.poll(async () => Object.values(await cars()).every((car) => drive!.sentFix(car)), { timeout: 5_000 }).toBe(true);

    // They move: two readings two seconds apart.
    const before = await cars();
    await sleep(2_000);
    const after = await cars();
    for (const crew of liveCrews) {
      const [a, b] = [before[crew.raceNumber]!, after[crew.raceNumber]!];
      expect(b.ts, `#${crew.raceNumber} has a newer fix`).toBeGreaterThan(a.ts);
      expect(Math.hypot(b.x - a.x, b.y - a.y), `#${crew.raceNumber} moved on the map`).toBeGreaterThan(0);
      expect(drive!.sentFix(b)).toBe(true);
      expect(b.stale).toBe(false);
    }
    await panel().screenshot({ path: join(artifactsDir, 'live-map-panel.png') });

    // #105's tracker goes quiet: greyed out after the panel's stale time, the others not.
    drive!.silenced.add(quiet.imei);
    const quietSince = performance.now();
    await expect.poll(async () => (await cars())[quiet.raceNumber]?.stale, { timeout: (STALE_SECONDS + 10) * 1000, interval: 250 }).toBe(true);
    const greyedAfter = performance.now() - quietSince;
    console.info(`live map: #${quiet.raceNumber} greyed out ${greyedAfter} ms after its tracker went quiet (stale time ${STALE_SECONDS} s)`);
    expect(greyedAfter).toBeGreaterThanOrEqual((STALE_SECONDS - 1) * 1000);
    const now = await cars();
    expect(liveCrews.filter((c) => c !== quiet).map((c) => now[c.raceNumber]!.stale)).toEqual([false, false, false, false]);
    expect(await panel().getByTestId('pitwall-live-legend').innerText()).toContain(`1 greyed out (no fix for ${STALE_SECONDS} s)`);
  }, 90_000);

  it('keeps a car where its newest fix is when its tracker uploads old fixes late', async () => {
    const lead = liveCrews[0]!;
    const oldTs = Date.now() - 10 * 60_000;
    const lateFix = { ...drive!.race[0]!, deviceId: lead.imei, ts: oldTs, latitude: 31.5, longitude: -4.5 };
    await redis.xadd(stream, '*', ...toStreamFields(lateFix));
    // The page got it from the gateway...
    await expect.poll(() => receivedFrames.some((m) => m['type'] === 'position' && m['data']?.deviceId === lead.imei && m['data']?.ts === oldTs), { timeout: 10_000 }).toBe(true);
    await sleep(300);
    // ...and the car stays at its newest fix.
    const car = (await cars())[lead.raceNumber]!;
    expect(car.ts).toBeGreaterThan(oldTs);
    expect(drive!.sentFix(car)).toBe(true);
  }, 30_000);

  it('pins a car that left the course’s area at the edge of the map, saying how far off it is', async () => {
    // The quiet crew's tracker (silenced by the first test) reports once more, 10 km north-west of the course.
    const far = { ...drive!.race[0]!, deviceId: quiet.imei, ts: Date.now(), latitude: 31.6, longitude: -4.5 };
    await redis.xadd(stream, '*', ...toStreamFields(far));
    // A fix of the tracker's, as the later tests check the map against what was sent.
    drive!.sent.set(quiet.imei, new Set([...(drive!.sent.get(quiet.imei) ?? []), `${far.ts}|${far.latitude}|${far.longitude}`]));
    const car = panel().locator(`[data-testid="pitwall-live-car"][data-race-number="${quiet.raceNumber}"]`);
    await expect.poll(() => car.getAttribute('data-off-map'), { timeout: 10_000 }).toBe('true');
    const [viewBox, x, y] = await Promise.all([panel().locator('svg[role="img"]').getAttribute('viewBox'), car.getAttribute('data-x'), car.getAttribute('data-y')]);
    const [, , width, height] = viewBox!.split(' ').map(Number);
    // In the picture, at its edge, where it used to be drawn outside it and missing.
    expect(Number(x)).toBeGreaterThan(0);
    expect(Number(x)).toBeLessThan(width!);
    expect(Number(y)).toBeGreaterThan(0);
    expect(Number(y)).toBeLessThan(height!);
    expect(Math.min(Number(x), Number(y), width! - Number(x), height! - Number(y))).toBeLessThanOrEqual(14);
    expect(await car.locator('.label').textContent()).toMatch(new RegExp(`^#${quiet.raceNumber} · \\d+ km off the map$`));
    await panel().screenshot({ path: join(artifactsDir, 'live-map-off-map.png') });
  }, 30_000);

  it('shows a clicked car’s last fix and its stage: finished SS1 in its time, or running on SS2 since its start', async () => {
    const lead = liveCrews[0]!;
    // Dispatched: a real click waits for the car to stand still, and these cars never do.
    await panel().locator(`[data-testid="pitwall-live-car"][data-race-number="${lead.raceNumber}"]`).dispatchEvent('click');
    const card = panel().getByTestId('pitwall-live-card');
    await card.waitFor({ state: 'visible', timeout: 5_000 });
    expect(await card.getAttribute('data-race-number')).toBe(String(lead.raceNumber));
    expect(await card.locator('h4').innerText()).toBe(`#${lead.raceNumber} ${lead.name}`);
    expect(await card.getByTestId('pitwall-live-card-time').innerText()).toMatch(/^\d{2}:\d{2}:\d{2} \(\d+ s ago\)$/);
    expect(await card.getByTestId('pitwall-live-card-speed').innerText()).toMatch(/^\d+ km\/h$/);
    expect(await card.getByTestId('pitwall-live-card-heading').innerText()).toMatch(/^\d+° (N|NE|E|SE|S|SW|W|NW)$/);
    expect(await card.getByTestId('pitwall-live-card-satellites').innerText()).toMatch(/^\d+$/);
    const result = storedFacts.find((f): f is StageResultFact => f.type === 'stage_result' && f.entryId === lead.id)!;
    await expect.poll(() => card.getByTestId('pitwall-live-card-stage').innerText(), { timeout: 10_000 }).toBe(`Finished ${ss1Name} in ${formatRaceTime(result.elapsedMs, { decimals: 1 })}`);
    await panel().screenshot({ path: join(artifactsDir, 'live-map-car.png') });

    await panel().locator(`[data-testid="pitwall-live-car"][data-race-number="${onStage.raceNumber}"]`).dispatchEvent('click');
    await expect.poll(() => card.getAttribute('data-race-number')).toBe(String(onStage.raceNumber));
    const running = storedFacts.find((f): f is StageResultFact => f.type === 'stage_result' && f.entryId === onStage.id)!;
    await expect.poll(() => card.getByTestId('pitwall-live-card-stage').innerText(), { timeout: 10_000 }).toBe(`Running on ${ss2Name} since ${formatTimeOfDay(running.startedAt, { timeZone: 'UTC', decimals: 0 })}`);
  }, 30_000);

  it('zooms in on the course and back, with the buttons and the wheel, keeping marks and labels their size', async () => {
    const drawing = panel().locator('svg[role="img"]');
    const gates = async () =>
      panel().getByTestId('pitwall-course-gate').locator('circle').evaluateAll((els) => els.map((e) => [Number(e.getAttribute('cx')), Number(e.getAttribute('cy')), Number(e.getAttribute('r'))]));
    const spread = (points: number[][]) => Math.hypot(points[1]![0]! - points[0]![0]!, points[1]![1]! - points[0]![1]!);
    const whole = await gates();
    expect(whole.length).toBeGreaterThanOrEqual(2);
    expect(await drawing.getAttribute('data-zoom')).toBe('1');
    expect(await panel().getByTestId('pitwall-live-map-zoom-out').isDisabled()).toBe(true);

    await panel().getByTestId('pitwall-live-map-zoom-in').click();
    await expect.poll(() => drawing.getAttribute('data-zoom')).toBe('2');
    const closer = await gates();
    expect(spread(closer)).toBeCloseTo(2 * spread(whole), -1);
    expect(closer.map((g) => g[2])).toEqual(whole.map((g) => g[2]));
    await panel().screenshot({ path: join(artifactsDir, 'live-map-zoomed.png') });

    // The wheel zooms about the pointer: the point under it stays where it is.
    const box = (await drawing.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, -100);
    await expect.poll(() => drawing.getAttribute('data-zoom')).toBe('2.5');
    await page.mouse.wheel(0, 100);
    await expect.poll(() => drawing.getAttribute('data-zoom')).toBe('2');

    // A car is still picked with a click, and Fit shows the whole course again.
    await panel().getByTestId('pitwall-live-map-zoom-fit').click();
    await expect.poll(() => drawing.getAttribute('data-zoom')).toBe('1');
    expect(await gates()).toEqual(whole);
  }, 30_000);

  it('plays a stored stage back at 10× on the same connection while the live topic goes on untouched', async () => {
    viewer = await Viewer.open(`ws://127.0.0.1:${gatewayPort}/ws-live`, token);
    await expect.poll(() => viewer!.messages.some((m) => m['type'] === 'subscribed')).toBe(true);
    const liveBefore = await cars();
    const liveFramesBefore = receivedFrames.filter((m) => m['topic'] === topic).length;

    await pick('pitwall-live-playback-stage', ss1Name);
    await panel().getByTestId('pitwall-live-playback-speed').fill('10');
    await panel().getByTestId('pitwall-live-play').click();
    await expect.poll(() => sentFrames.find((m) => m['type'] === 'playback')).toEqual({ type: 'playback', event, stage: ss1, speed: 10, id: 'playback' });
    const banner = panel().getByTestId('pitwall-live-playback-banner');
    await banner.waitFor({ state: 'visible', timeout: 10_000 });
    expect(await banner.innerText()).toContain(`Playback of ${ss1Name} at 10×`);
    expect(await panel().getAttribute('data-mode')).toBe('playback');
    const playbackTopic = receivedFrames.find((m) => m['type'] === 'playback')!['topic'] as string;

    // The map shows the stored run's cars, at stored fixes two days old, and they move.
    const storedKeys = new Set(stored.map((f) => `${f.deviceId}|${f.ts}|${f.latitude}|${f.longitude}`));
    const isStored = (car: CarOnMap) => storedKeys.has(`${car.device}|${car.ts}|${car.lat}|${car.lon}`);
    await expect.poll(raceNumbers, { timeout: 10_000 }).toEqual(playedCrews.map((c) => c.raceNumber));
    const first = await cars();
    await sleep(2_000);
    const second = await cars();
    for (const crew of playedCrews) {
      const [a, b] = [first[crew.raceNumber]!, second[crew.raceNumber]!];
      expect(isStored(a) && isStored(b), `#${crew.raceNumber} is at a stored fix`).toBe(true);
      // Two seconds at 10×: twenty seconds of the stored run.
      expect(b.ts - a.ts, `#${crew.raceNumber} played on`).toBeGreaterThanOrEqual(10_000);
      expect(Math.hypot(b.x - a.x, b.y - a.y), `#${crew.raceNumber} moved on the map`).toBeGreaterThan(0);
      // Stale by the played-back clock, not by today's.
      expect(b.stale).toBe(false);
    }
    await screenshot(page, 'live-map-playback');
    await panel().screenshot({ path: join(artifactsDir, 'live-map-playback-panel.png') });

    // The live topic went on: the page kept receiving it, and another viewer got live fixes only.
    expect(receivedFrames.filter((m) => m['topic'] === topic).length).toBeGreaterThan(liveFramesBefore);
    const othersGot = viewer.messages.filter((m) => m['type'] === 'position');
    expect(othersGot.length).toBeGreaterThan(0);
    expect(othersGot.every((m) => m['topic'] === topic && m['data'].ts > Date.now() - DAY && liveCrews.some((c) => c.imei === m['data'].deviceId))).toBe(true);
    expect(receivedFrames.filter((m) => m['topic'] === topic && m['type'] === 'position').every((m) => m['data'].ts > Date.now() - DAY)).toBe(true);

    // Stop: back to live, where each car is at its newest live fix (taken in during the playback).
    await panel().getByTestId('pitwall-live-playback-stop').click();
    await expect.poll(() => panel().getAttribute('data-mode')).toBe('live');
    expect(sentFrames.at(-1)).toEqual({ type: 'unsubscribe', topic: playbackTopic });
    expect(await banner.count()).toBe(0);
    expect(await panel().getByTestId('pitwall-live-playback-note').innerText()).toBe(`Playback of ${ss1Name} stopped.`);
    await expect.poll(raceNumbers, { timeout: 5_000 }).toEqual(liveCrews.map((c) => c.raceNumber));
    const liveAfter = await cars();
    for (const crew of liveCrews) {
      const car = liveAfter[crew.raceNumber]!;
      expect(drive!.sentFix(car), `#${crew.raceNumber} is at a live fix`).toBe(true);
      if (crew !== quiet) expect(car.ts, `#${crew.raceNumber} moved on live during the playback`).toBeGreaterThan(liveBefore[crew.raceNumber]!.ts + 2_000);
    }
    expect(liveAfter[quiet.raceNumber]!.ts).toBe(liveBefore[quiet.raceNumber]!.ts);
    viewer.close();
    viewer = null;
  }, 60_000);

  it('reconnects when the gateway restarts and resumes from the last position it had', async () => {
    const subscribesBefore = sentFrames.filter((m) => m['type'] === 'subscribe').length;
    const states: string[] = [];
    const watcher = setInterval(() => void state().getAttribute('data-state').then((s) => s && states.at(-1) !== s && states.push(s), () => undefined), 50);
    try {
      await gateway!.close();
      gateway = await startGateway();
      await expect.poll(() => sentFrames.filter((m) => m['type'] === 'subscribe').length, { timeout: 15_000 }).toBeGreaterThan(subscribesBefore);
      await expect.poll(() => state().getAttribute('data-state'), { timeout: 15_000 }).toBe('connected');
    } finally {
      clearInterval(watcher);
    }
    expect(states).toContain('reconnecting');
    const resume = sentFrames.filter((m) => m['type'] === 'subscribe').at(-1)!;
    expect(resume).toMatchObject({ type: 'subscribe', topic, id: 'live', since: expect.stringMatching(/^\d+-\d+$/) });
    expect(receivedFrames.some((m) => m['type'] === 'subscribed' && m['resumed'] === true)).toBe(true);

    const before = await cars();
    await sleep(1_500);
    const after = await cars();
    const lead = liveCrews[0]!;
    expect(after[lead.raceNumber]!.ts).toBeGreaterThan(before[lead.raceNumber]!.ts);
    expect(drive!.sentFix(after[lead.raceNumber]!)).toBe(true);
  }, 45_000);

  it('says on its state line why it cannot connect: a gateway the page may not reach, or none listening', async () => {
    const pointAt = async (gatewayUrl: string) => {
      const options = { ...livePanel!.options, gatewayUrl, staleSeconds: STALE_SECONDS };
      expect((await call(stack, `/panels/${livePanel!.id}`, { token, method: 'PATCH', body: { options } })).status).toBe(200);
      await page.reload();
    };
    // Another host name: Directus's Content-Security-Policy (as the test stack sets it) lets the page reach 127.0.0.1 only.
    await pointAt(`ws://localhost:${gatewayPort}/ws-live`);
    await expect.poll(() => state().getAttribute('data-state'), { timeout: 30_000 }).toBe('error');
    expect(await state().innerText()).toBe(
      `Cannot connect: Directus's Content-Security-Policy does not allow ws://localhost:${gatewayPort}/ws-live: add it to CONTENT_SECURITY_POLICY_DIRECTIVES__CONNECT_SRC, or serve the gateway over wss://`,
    );
    // Nothing listening there: it keeps trying, and says so.
    const nowhere = await freePort();
    await pointAt(`ws://127.0.0.1:${nowhere}/ws-live`);
    await expect
      .poll(() => state().innerText(), { timeout: 30_000 })
      .toMatch(new RegExp(`^Reconnecting in \\d+ s \\(attempt \\d+\\): cannot connect to the gateway at ws://127\\.0\\.0\\.1:${nowhere}/ws-live: it refused the connection \\(401/503\\) or is not reachable$`));
    await panel().screenshot({ path: join(artifactsDir, 'live-map-unreachable.png') });
  }, 60_000);
});
