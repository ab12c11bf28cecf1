import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { pino } from 'pino';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { gapTime, penaltyTime, raceTime, rankLabel } from '../../extensions/pitwall/src/pitwall-classification-panel/view.ts';
import { stageCourses } from '../../src/demo/course.ts';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import type { Position } from '../../src/domain/position.ts';
import { loadJobsConfig } from '../../src/jobs/jobs-config.ts';
import { JobsService } from '../../src/jobs/jobs-service.ts';
import type { Processor } from '../../src/processor/processor.ts';
import { publishFixes } from '../../src/simulator/publish.ts';
import { simulateRace } from '../../src/simulator/race-schedule.ts';
import { artifactsDir, launchBrowser, loginToDirectus, screenshot } from '../support/browser.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { startRacingProcessor } from '../support/racing-processor.ts';
import { freePort, REDIS_URL } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const event = demoId('event');
const ss1 = demoId('stage:ss1');
const eventName = 'Pitwall Desert Rally (demo)';
const ss1Name = stageCourses.find((c) => c.key === 'ss1')!.name;
const ENTRIES = 5;
const entries = demoEntries.slice(0, ENTRIES);
const devices = entries.map((e) => e.imei);
/** #104 is on the stage when the dashboard opens; its finish crossing is sent while the timekeeper watches. */
const late = entries[3]!;
/** #105 starts and never finishes: running on the stage, apart in the overall classification. */
const stranded = entries[4]!;
const factTables = ['entry_crossings', 'stage_results', 'entry_penalties', 'anomalies'];

interface Expected {
  entry: string;
  race_number: number;
  rank: number | null;
  tied: boolean;
  status?: string;
  total_ms: number | null;
  penalty_ms: number;
  gap_to_leader_ms: number | null;
  gap_to_ahead_ms: number | null;
}

/**
 * The pitwall-classification panel of the Race Control dashboard, in a real browser, logged in as a Race Control
 * user, fed by the real processor: a finish
 * crossing sent on the telemetry stream shows up within seconds with its rank and gaps, a penalty added by hand
 * re-ranks the stage, the overall classification lists the unfinished apart, and the print layout shows only the
 * classification.
 */
describe('the classification panel on the Race Control dashboard', () => {
  const stream = `test:telemetry:${randomUUID()}`;
  let redis: Redis;
  let db: Knex;
  let token: string;
  let processor: Processor | null = null;
  let browser: Browser | null = null;
  let session: BrowserContext | null = null;
  let page: Page;
  let dashboard: string;
  /** A timekeeper: a user of the Race Control role that setup provisions. */
  let steward: { id: string; email: string; password: string; token: string } | null = null;
  let held: Position[] = [];

  const count = async (table: string, where: Record<string, unknown> = {}) => Number((await db(table).where(where).count<{ n: string }[]>('* as n'))[0]!.n);
  const panelRoot = () => page.getByTestId('pitwall-classification');
  const rows = () => panelRoot().getByTestId('pitwall-classification-row');
  const rowOf = (raceNumber: number) => panelRoot().locator(`[data-testid="pitwall-classification-row"][data-race-number="${raceNumber}"]`);
  const cell = (row: Locator, col: string) => row.locator(`[data-col="${col}"]`).innerText();

  /** The stage's classification from the stored results, as the domain ranks it (through the endpoint). */
  async function expectedStage(): Promise<Expected[]> {
    const res = await call(stack, `/pitwall/classification?event=${event}&stage=${ss1}`, { token });
    expect(res.status, res.text).toBe(200);
    return res.json.rows;
  }

  /** What the panel's table shows, cell by cell, against what the stored results say it should. */
  async function expectPanelToShow(expected: Expected[]): Promise<void> {
    await expect.poll(() => rows().evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-race-number'))), { timeout: 10_000 }).toEqual(expected.map((r) => String(r.race_number)));
    for (const r of expected) {
      const row = rowOf(r.race_number);
      // Overall rows have no status.
      if (r.status) expect(await row.getAttribute('data-status')).toBe(r.status);
      expect(await cell(row, 'rank')).toBe(rankLabel(r.rank, r.tied));
      expect(await cell(row, 'total')).toBe(raceTime(r.total_ms));
      expect(await cell(row, 'gap-leader')).toBe(gapTime(r.gap_to_leader_ms));
      expect(await cell(row, 'gap-ahead')).toBe(gapTime(r.gap_to_ahead_ms));
    }
  }

  /** Opens a Directus v-select of the panel and clicks the item with this text. */
  async function pick(testid: string, text: string | RegExp): Promise<void> {
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
    expect(await count('stage_results', { stage: ss1 }), 'SS1 has no results left by another test').toBe(0);

    // SS1 three days into its window (so the processor's clock concludes nothing early): #101-#103 drive it to the
    // end, #104 is held back before the finish, #105 goes quiet on the stage.
    const { opens_at } = await db('stages').where({ id: ss1 }).first('opens_at');
    const fixes = simulateRace({ start: new Date(opens_at).getTime() + 3 * 24 * 3_600_000, entries: ENTRIES, stages: ['ss1'], seed: 11 });
    const cut = (device: string, share: number) => {
      const own = fixes.filter((f) => f.deviceId === device);
      return own[Math.floor(own.length * share)]!.ts;
    };
    const lateCut = cut(late.imei, 0.6);
    const strandedCut = cut(stranded.imei, 0.3);
    held = fixes.filter((f) => f.deviceId === late.imei && f.ts >= lateCut);
    const first = fixes.filter((f) => !(f.deviceId === late.imei && f.ts >= lateCut) && !(f.deviceId === stranded.imei && f.ts >= strandedCut));
    await publishFixes(redis, stream, first, { speed: 0 });
    processor = await startRacingProcessor(stack, stream);
    await waitFor(
      async () =>
        (await count('stage_results', { stage: ss1, status: 'finished' })) === 3 &&
        (await count('stage_results', { stage: ss1, status: 'running' })) === 2 &&
        (await count('pitwall_outbox')) === 0,
      { timeoutMs: 90_000, intervalMs: 1000, what: 'three SS1 finishers, two cars running, and an empty outbox' },
    );

    // The Race Control dashboard setup provisions, with its classification panel on the demo event's SS1.
    const dashboards = await call(stack, `/dashboards?filter[name][_eq]=Race Control&fields=id,panels.type,panels.options`, { token });
    expect(dashboards.json.data, dashboards.text).toHaveLength(1);
    dashboard = dashboards.json.data[0].id;
    const classificationPanel = dashboards.json.data[0].panels.find((p: { type: string }) => p.type === 'pitwall-classification');
    expect(classificationPanel.options).toMatchObject({ defaultEvent: { key: event }, defaultStage: { key: ss1 } });

    const role = (await call(stack, '/roles?filter[name][_eq]=Race Control&fields=id', { token })).json.data[0].id;
    const credentials = { email: `timekeeper-${randomUUID().slice(0, 8)}@pitwall.example.com`, password: randomBytes(16).toString('hex'), token: randomBytes(24).toString('hex') };
    const user = await call(stack, '/users', { token, body: { ...credentials, role, status: 'active' } });
    expect(user.status, user.text).toBe(200);
    steward = { id: user.json.data.id, ...credentials };

    browser = await launchBrowser();
    session = await browser.newContext({ viewport: { width: 1920, height: 1000 } });
    page = await session.newPage();
    await loginToDirectus(page, stack, steward!);
  }, 240_000);

  afterAll(async () => {
    await session?.close();
    await browser?.close();
    await processor?.close();
    if (steward) await call(stack, `/users/${steward.id}`, { token, method: 'DELETE' });
    await redis?.del(stream, `${stream}:dead-letter`);
    redis?.disconnect();
    await db('positions').whereIn('device_id', devices).delete();
    await db('decoded_attributes').whereIn('device_id', devices).delete();
    // As the other timing tests do: the processor's rows, the hand-made penalty, and the race events they caused.
    for (const table of [...factTables, 'race_events', 'pitwall_pending_events']) await db(table).delete();
    await db.destroy();
  });

  it('shows a finish crossing sent on the stream within seconds, with its rank and gaps', async () => {
    await page.goto(`${stack.directusUrl}/admin/insights/${dashboard}`);
    await rows().first().waitFor({ state: 'visible', timeout: 30_000 });
    // The panel opens on its options' event and stage.
    await expect.poll(() => panelRoot().getByTestId('pitwall-classification-title').innerText()).toBe(`${ss1Name}: stage classification`);
    const before = await expectedStage();
    expect(before.map((r) => [r.race_number, r.status])).toContainEqual([late.raceNumber, 'running']);
    await expectPanelToShow(before);
    const updated = panelRoot().getByTestId('pitwall-classification-updated');
    const firstReading = await updated.getAttribute('data-computed-at');
    expect(await updated.innerText()).toMatch(/^Updated \d{2}:\d{2}:\d{2}$/);

    const sentAt = performance.now();
    await publishFixes(redis, stream, held, { speed: 0 });
    await expect.poll(() => rowOf(late.raceNumber).getAttribute('data-status'), { timeout: 30_000, interval: 100 }).toBe('finished');
    const shownAfterMs = performance.now() - sentAt;
    console.info(`classification panel: #${late.raceNumber}'s finish shown ${shownAfterMs} ms after its fixes were sent`);
    expect(shownAfterMs).toBeLessThan(15_000);

    const after = await expectedStage();
    const finisher = after.find((r) => r.race_number === late.raceNumber)!;
    expect(finisher).toMatchObject({ status: 'finished', rank: expect.any(Number) });
    // Its rank and gaps are the ones its stored total gives among the stored totals.
    const totals = await db('stage_results').where({ stage: ss1, status: 'finished' }).orderBy('total_ms').select('entry', 'total_ms');
    const position = totals.findIndex((t) => t.entry === late.id);
    expect(finisher.rank).toBe(totals.findIndex((t) => t.total_ms === totals[position]!.total_ms) + 1);
    expect(finisher.gap_to_leader_ms).toBe(position === 0 ? null : totals[position]!.total_ms - totals[0]!.total_ms);
    await expectPanelToShow(after);
    expect(await updated.getAttribute('data-computed-at')).not.toBe(firstReading);
    await screenshot(page, 'classification-dashboard');
    await panelRoot().screenshot({ path: join(artifactsDir, 'classification-panel.png') });
  }, 120_000);

  it('re-ranks the stage when a timekeeper adds a penalty by hand', async () => {
    const before = await expectedStage();
    const finishers = before.filter((r) => r.status === 'finished');
    const leader = finishers[0]!;
    const last = finishers.at(-1)!;
    // Enough to put the leader 1.5 s behind the last finisher.
    const amount = last.total_ms! - leader.total_ms! + 1_500;
    // As the timekeeper: the Race Control role may add penalties.
    const penalty = await call(stack, '/items/entry_penalties', { token: steward!.token, body: { entry: leader.entry, stage: ss1, kind: 'manual', amount_ms: amount, details: { reason: 'jump start' } } });
    expect(penalty.status, penalty.text).toBe(200);

    const row = rowOf(leader.race_number);
    await expect.poll(() => cell(row, 'total'), { timeout: 15_000 }).toBe(raceTime(leader.total_ms! + amount));
    const after = await expectedStage();
    const penalised = after.find((r) => r.entry === leader.entry)!;
    expect(penalised).toMatchObject({ rank: finishers.length, tied: false, penalty_ms: leader.penalty_ms + amount, total_ms: leader.total_ms! + amount, gap_to_ahead_ms: 1_500 });
    expect(after.find((r) => r.status === 'finished')!.entry).toBe(finishers[1]!.entry);
    await expectPanelToShow(after);
    expect(await cell(row, 'rank')).toBe(String(finishers.length));
    expect(await cell(row, 'penalty')).toBe(penaltyTime(leader.penalty_ms + amount));
    expect(await cell(row, 'gap-ahead')).toBe('+0:01.500');
  }, 60_000);

  it('shows the overall classification with the entry that has not finished every stage apart', async () => {
    await pick('pitwall-classification-stage', 'Overall');
    await expect.poll(() => panelRoot().getByTestId('pitwall-classification-title').innerText()).toBe(`Overall classification after ${ss1Name}`);
    const overall = (await call(stack, `/pitwall/classification?event=${event}`, { token })).json;
    expect(overall.rows).toHaveLength(ENTRIES - 1);
    expect(overall.incomplete.map((r: Expected) => r.race_number)).toEqual([stranded.raceNumber]);
    await expectPanelToShow(overall.rows);
    const apart = panelRoot().getByTestId('pitwall-classification-incomplete');
    expect(await apart.locator('h4').innerText()).toBe('Not classified: not finished every stage (1)');
    const strandedRow = apart.getByTestId('pitwall-classification-incomplete-row');
    expect(await strandedRow.getAttribute('data-race-number')).toBe(String(stranded.raceNumber));
    expect(await cell(strandedRow, 'stages')).toBe('0 of 1 stage');
    await panelRoot().screenshot({ path: join(artifactsDir, 'classification-overall.png') });
    await pick('pitwall-classification-stage', ss1Name);
    await expect.poll(() => panelRoot().getByTestId('pitwall-classification-title').innerText()).toBe(`${ss1Name}: stage classification`);
  }, 60_000);

  it('prints only the classification, with the event, the stage and the time it was printed', async () => {
    // The Print button asks the browser to print (a headless browser has no dialog: count the calls instead).
    type Printing = { printed: number; print: () => void };
    await page.evaluate(() => {
      const w = globalThis as unknown as Printing;
      w.printed = 0;
      w.print = () => void w.printed++;
    });
    await panelRoot().getByTestId('pitwall-classification-print').click();
    expect(await page.evaluate(() => (globalThis as unknown as Printing).printed)).toBe(1);

    const printout = page.getByTestId('pitwall-classification-printout');
    expect(await printout.isVisible()).toBe(false);
    // A crew name of one long word (the field takes 255 characters) pushed every time column off the page.
    const { name } = await db('entries').where({ id: entries[0]!.id }).first('name');
    const long = 'Équipe'.padEnd(249, 'x');
    const rename = async (to: string) => expect((await call(stack, `/items/entries/${entries[0]!.id}`, { token, method: 'PATCH', body: { name: to } })).status).toBe(200);
    await rename(long);
    await waitFor(async () => (await panelRoot().innerText()).includes(long), { timeoutMs: 20_000, what: 'the long name on the board' });
    // On the screen it takes two lines at most (the whole name on hover): a 250-letter name took the screen's height.
    const longRow = panelRoot().getByTestId('pitwall-classification-row').filter({ hasText: long.slice(0, 30) });
    expect(await longRow.evaluate((tr) => tr.getBoundingClientRect().height)).toBeLessThan(60);
    expect(await longRow.locator('.crew-text').getAttribute('title')).toBe(long);
    // About the width of an A4 page, as a printer lays it out.
    await page.setViewportSize({ width: 900, height: 1200 });
    await page.emulateMedia({ media: 'print' });
    try {
      await printout.waitFor({ state: 'visible', timeout: 5_000 });
      expect(await printout.locator('table').evaluate((table) => table.getBoundingClientRect().right)).toBeLessThanOrEqual(900);
      await printout.waitFor({ state: 'visible', timeout: 5_000 });
      // No app chrome: the Directus app is hidden, the printout alone is shown.
      expect(await page.locator('#app').isVisible()).toBe(false);
      expect(await printout.locator('header .event').innerText()).toBe(eventName);
      expect(await printout.locator('header h1').innerText()).toBe(`${ss1Name}: stage classification`);
      expect(await printout.locator('header .when').innerText()).toMatch(/^Printed \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} · results as of \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
      const expected = await expectedStage();
      const printed = await printout.getByTestId('pitwall-classification-row').evaluateAll((trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim() ?? '')),
      );
      expect(printed.map((cells) => [cells[0], cells[1], cells[5]])).toEqual(expected.map((r) => [rankLabel(r.rank, r.tied), `#${r.race_number}`, raceTime(r.total_ms)]));
      await screenshot(page, 'classification-print');
    } finally {
      await rename(name);
      await page.emulateMedia({ media: 'screen' });
      await page.setViewportSize({ width: 1920, height: 1000 });
    }
    expect(await printout.isVisible()).toBe(false);
  }, 60_000);

  it('runs a replay preview from the dashboard, as the timekeeper, and refuses an apply', async () => {
    const jobs = new JobsService(
      loadJobsConfig({ DATABASE_URL: stack.databaseUrl, DIRECTUS_URL: stack.directusUrl, DIRECTUS_TOKEN: stack.processorToken, METRICS_PORT: String(await freePort()), JOBS_POLL_MS: '200' }),
      pino({ level: 'silent' }),
    );
    await jobs.start();
    const runs: string[] = [];
    try {
      await page.goto(`${stack.directusUrl}/admin/insights/${dashboard}`);
      const start = page.getByTestId('pitwall-replay-start');
      await start.waitFor({ state: 'visible', timeout: 30_000 });
      // The panel opens on the demo event's SS1, in preview mode, as setup wired it.
      await expect.poll(() => page.getByTestId('pitwall-replay-from').inputValue()).not.toBe('');
      const posted = page.waitForResponse((r) => r.url().endsWith('/pitwall/replay') && r.request().method() === 'POST');
      await start.click();
      const response = await posted;
      expect(response.status()).toBe(202);
      expect(response.request().postDataJSON()).toMatchObject({ event, stage: ss1, mode: 'preview' });
      runs.push((await response.json()).run.id);
      const status = page.getByTestId('pitwall-replay-status');
      await expect.poll(() => status.getAttribute('data-status'), { timeout: 60_000 }).toBe('succeeded');
      await page.getByTestId('pitwall-replay-diff').waitFor({ state: 'visible', timeout: 10_000 });
      await screenshot(page, 'race-control-replay-preview');

      // An apply is the admins': the timekeeper's token is refused with the reason, and nothing is queued.
      const refused = await call(stack, '/pitwall/replay', { token: steward!.token, body: { event, stage: ss1, mode: 'apply' } });
      expect(refused.status).toBe(403);
      expect(await count('replay_runs', { status: 'queued' })).toBe(0);
    } finally {
      await jobs.close();
      if (runs.length > 0) await db('replay_runs').whereIn('id', runs).delete();
    }
  }, 120_000);
});
