import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { pino } from 'pino';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stageCourses } from '../../src/demo/course.ts';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import { loadJobsConfig } from '../../src/jobs/jobs-config.ts';
import { JobsService } from '../../src/jobs/jobs-service.ts';
import type { ReplaySummary } from '../../src/jobs/replay/run-replay.ts';
import type { Processor } from '../../src/processor/processor.ts';
import { publishFixes } from '../../src/simulator/publish.ts';
import { simulateRace } from '../../src/simulator/race-schedule.ts';
import { launchBrowser, loginToDirectus, screenshot } from '../support/browser.ts';
import { adminToken, call } from '../support/directus-client.ts';
import { startRacingProcessor } from '../support/racing-processor.ts';
import { freePort, REDIS_URL } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

const stack = inject('stack');
const ENTRIES = 5;
const event = demoId('event');
const ss1 = demoId('stage:ss1');
const eventName = 'Pitwall Desert Rally (demo)';
const ss1Name = stageCourses.find((c) => c.key === 'ss1')!.name;
const devices = demoEntries.slice(0, ENTRIES).map((e) => e.imei);
const factTables = ['entry_crossings', 'stage_results', 'entry_penalties', 'anomalies'];
/** A timekeeper moved #102's SS1 finish by hand; the replay puts it back where the track crosses the line. */
const editedEntry = demoId('entry:102');
const EDIT_MS = 1500;
/** #104 speeds through the village; its stored penalty is deleted, so the replay finds it again. */
const speeder = demoId('entry:104');

/**
 * The pitwall-replay panel on an Insights dashboard, in a real browser: a timekeeper picks the demo event and SS1,
 * starts a preview, watches it finish and reads the diff against the stored timing, then reopens the run later.
 */
describe('the replay panel on an Insights dashboard', () => {
  const stream = `test:telemetry:${randomUUID()}`;
  let redis: Redis;
  let db: Knex;
  let token: string;
  let processor: Processor | null = null;
  let jobs: JobsService | null = null;
  let browser: Browser | null = null;
  /** One logged-in session for both tests: logging into the admin app takes long on a busy machine. */
  let session: BrowserContext | null = null;
  let dashboard: string | null = null;
  let panel: string | null = null;
  const runs: string[] = [];

  const startJobs = async (): Promise<JobsService> => {
    const service = new JobsService(
      loadJobsConfig({ DATABASE_URL: stack.databaseUrl, DIRECTUS_URL: stack.directusUrl, DIRECTUS_TOKEN: stack.processorToken, METRICS_PORT: String(await freePort()), JOBS_POLL_MS: '200' }),
      pino({ level: 'silent' }),
    );
    await service.start();
    return service;
  };
  const count = async (table: string, where: Record<string, unknown> = {}) => Number((await db(table).where(where).count<{ n: string }[]>('* as n'))[0]!.n);

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    token = await adminToken(stack);

    // Stored history: SS1 of five demo entries, timed live by the processor (three days into the stage window, so
    // the processor's clock concludes nothing early).
    const { opens_at } = await db('stages').where({ id: ss1 }).first('opens_at');
    const fixes = simulateRace({ start: new Date(opens_at).getTime() + 3 * 24 * 3_600_000, entries: ENTRIES, stages: ['ss1'], seed: 3 });
    await publishFixes(redis, stream, fixes, { speed: 0 });
    processor = await startRacingProcessor(stack, stream);
    await waitFor(
      async () => (await count('stage_results', { stage: ss1, status: 'finished' })) === ENTRIES && (await count('pitwall_outbox')) === 0,
      { timeoutMs: 90_000, intervalMs: 1000, what: `${ENTRIES} SS1 finishers and an empty outbox` },
    );
    await processor.close();
    processor = null;

    // What the replay will disagree with: a hand-edited finish time and a deleted penalty.
    const edited = await db('entry_crossings')
      .where({ entry: editedEntry, stage: ss1, kind: 'finish' })
      .update({ crossed_at: db.raw(`crossed_at + interval '${EDIT_MS} milliseconds'`) });
    expect(edited).toBe(1);
    expect(await db('entry_penalties').where({ entry: speeder, stage: ss1, kind: 'speeding' }).delete()).toBeGreaterThan(0);

    jobs = await startJobs();

    const created = await call(stack, '/dashboards', { token, body: { name: `Replay ${randomUUID().slice(0, 8)}`, icon: 'history' } });
    expect(created.status, created.text).toBe(200);
    dashboard = created.json.data.id;
    const added = await call(stack, '/panels', {
      token,
      body: { dashboard, name: 'Replay SS1', icon: 'history', type: 'pitwall-replay', show_header: true, position_x: 1, position_y: 1, width: 60, height: 64, options: {} },
    });
    expect(added.status, added.text).toBe(200);
    panel = added.json.data.id;

    browser = await launchBrowser();
  }, 180_000);

  afterAll(async () => {
    await session?.close();
    await browser?.close();
    await jobs?.close();
    await processor?.close();
    if (panel) await call(stack, `/panels/${panel}`, { token, method: 'DELETE' });
    if (dashboard) await call(stack, `/dashboards/${dashboard}`, { token, method: 'DELETE' });
    if (runs.length > 0) await db('replay_runs').whereIn('id', runs).delete();
    await redis?.del(stream, `${stream}:dead-letter`);
    redis?.disconnect();
    await db('positions').whereIn('device_id', devices).delete();
    await db('decoded_attributes').whereIn('device_id', devices).delete();
    // As the other timing tests do: the processor's rows, and the race events it (or a run) emitted.
    for (const table of [...factTables, 'race_events', 'pitwall_pending_events']) await db(table).delete();
    await db.destroy();
  });

  /** Opens a Directus v-select of the panel and clicks the item with this text. */
  async function pick(page: Page, testid: string, text: string | RegExp): Promise<void> {
    await page.locator(`[data-testid="${testid}"] .v-input`).click();
    const item = page.locator('.v-menu-content .v-list-item').filter({ hasText: text }).first();
    await item.waitFor({ state: 'visible', timeout: 10_000 });
    await item.click();
    await page.locator('.v-menu-content').waitFor({ state: 'detached', timeout: 5_000 }).catch(() => undefined);
  }

  /** The dashboard in `page`, the panel set to the demo event and SS1. */
  async function openOnSs1(page: Page): Promise<void> {
    await page.goto(`${stack.directusUrl}/admin/insights/${dashboard}`);
    await page.getByTestId('pitwall-replay-start').waitFor({ state: 'visible', timeout: 30_000 });
    await pick(page, 'pitwall-replay-event', eventName);
    await pick(page, 'pitwall-replay-stage', ss1Name);
  }

  /** Clicks the button that queues a run and reads the `POST /pitwall/replay` it makes: 202, the run kept to clean up. */
  async function queueRun(page: Page, button: string): Promise<{ run: { id: string }; body: Record<string, any> }> {
    const posted = page.waitForResponse((r) => r.url().endsWith('/pitwall/replay') && r.request().method() === 'POST');
    await page.getByTestId(button).click();
    const response = await posted;
    expect(response.status()).toBe(202);
    const { run } = await response.json();
    runs.push(run.id);
    return { run, body: response.request().postDataJSON() };
  }

  /** The diff as the panel shows it, checked against the run's result read through the API. */
  async function expectDiffOf(page: Page, summary: ReplaySummary): Promise<void> {
    const diff = page.getByTestId('pitwall-replay-diff');
    for (const change of ['added', 'removed', 'changed', 'unchanged'] as const) {
      await expect.poll(() => diff.getByTestId(`pitwall-replay-count-${change}`).locator('strong').innerText()).toBe(summary.diff.counts[change].toLocaleString('en-US'));
    }
    const rows = diff.getByTestId('pitwall-replay-diff-row');
    await expect.poll(() => rows.count()).toBe(summary.diff.rows.length);
    const shown = await rows.evaluateAll((trs) =>
      trs.map((tr) => ({ change: tr.getAttribute('data-change'), collection: tr.getAttribute('data-collection'), label: tr.querySelector('td.label')?.firstChild?.textContent?.trim() })),
    );
    expect(shown).toEqual(summary.diff.rows.map((r) => ({ change: r.change, collection: r.collection, label: r.label })));
  }

  it('starts a preview of SS1 from the panel, follows it to the end and shows the diff and the tracks', async () => {
    const positionsBefore = await count('positions');
    const penaltiesBefore = await count('entry_penalties');
    session = await browser!.newContext({ viewport: { width: 1920, height: 1400 } });
    const page = await session.newPage();
    await loginToDirectus(page, stack);
    await openOnSs1(page);
    // Picking the stage fills the range with its window.
    await expect.poll(() => page.getByTestId('pitwall-replay-from').inputValue()).not.toBe('');

    const { run, body } = await queueRun(page, 'pitwall-replay-start');
    const window = await db('stages').where({ id: ss1 }).first('opens_at', 'closes_at');
    expect(body).toEqual({ event, stage: ss1, from: new Date(window.opens_at).toISOString(), to: new Date(window.closes_at).toISOString(), mode: 'preview' });

    // The progress bar follows the run to the end.
    await expect(page.getByTestId('pitwall-replay-progress').count()).resolves.toBe(1);
    const status = page.getByTestId('pitwall-replay-status');
    await expect.poll(() => status.getAttribute('data-status'), { timeout: 60_000 }).toBe('succeeded');
    expect(await page.getByTestId('pitwall-replay-progress').getAttribute('data-percent')).toBe('100');

    const done = await call(stack, `/pitwall/replay/${run.id}`, { token });
    expect(done.json.run).toMatchObject({ status: 'succeeded', progress: 1 });
    const summary: ReplaySummary = done.json.run.result;
    expect(await status.innerText()).toContain(`${summary.positions.toLocaleString('en-US')} positions of ${summary.devices} trackers`);

    // The hand-edited finish comes back 1.5 s earlier, the deleted penalty is found again; nothing else differs.
    expect(summary.mode).toBe('preview');
    const moved = summary.diff.rows.find((r) => r.collection === 'entry_crossings' && r.entry === editedEntry);
    expect(moved).toMatchObject({ change: 'changed', label: '#102 SS1 finish', delta_ms: -EDIT_MS });
    expect(summary.diff.rows.filter((r) => r.collection === 'entry_penalties' && r.entry === speeder && r.change === 'added').length).toBeGreaterThan(0);
    expect(summary.diff.counts.removed).toBe(0);
    expect(summary.diff.counts.unchanged).toBeGreaterThan(ENTRIES * 3);
    await expectDiffOf(page, summary);
    const movedRow = page.getByTestId('pitwall-replay-diff-row').filter({ hasText: '#102 SS1 finish' });
    await expect(movedRow.getByTestId('pitwall-replay-delta').innerText()).resolves.toBe('−1.500 s');
    await expect(movedRow.getAttribute('data-change')).resolves.toBe('changed');

    // The map: one track per replayed tracker, a circle per crossing.
    expect(summary.tracks).toHaveLength(ENTRIES);
    expect(summary.crossings).toHaveLength(ENTRIES * 3);
    await expect(page.getByTestId('pitwall-replay-track').count()).resolves.toBe(summary.tracks.length);
    await expect(page.getByTestId('pitwall-replay-crossing').count()).resolves.toBe(summary.crossings.length);
    await expect(page.locator('[data-testid="pitwall-replay-crossing"][data-kind="finish"]').count()).resolves.toBe(ENTRIES);

    // A preview writes nothing.
    expect(await count('positions')).toBe(positionsBefore);
    expect(await count('entry_penalties')).toBe(penaltiesBefore);

    const path = await screenshot(page, 'replay-panel');
    expect(path).toMatch(/replay-panel\.png$/);
    await page.close();
  }, 180_000);

  it('reopens the earlier run from the list after the dashboard is opened again', async () => {
    expect(runs).toHaveLength(1);
    const page = await session!.newPage();
    await page.goto(`${stack.directusUrl}/admin/insights/${dashboard}`);
    await page.getByTestId('pitwall-replay-runs').waitFor({ state: 'visible', timeout: 30_000 });
    expect(await page.getByTestId('pitwall-replay-status').count()).toBe(0);
    // The form set otherwise (the whole event) before the run is reopened.
    await pick(page, 'pitwall-replay-event', eventName);
    const shownStage = () => page.locator('[data-testid="pitwall-replay-stage"] input').inputValue();
    await expect.poll(shownStage).toBe('');

    await pick(page, 'pitwall-replay-runs', /preview · .* · succeeded/);
    await expect.poll(() => page.getByTestId('pitwall-replay-status').getAttribute('data-status'), { timeout: 10_000 }).toBe('succeeded');
    // Beside its result, the settings it ran with: Start would run the same replay again.
    const window = await db('stages').where({ id: ss1 }).first('opens_at', 'closes_at');
    await expect.poll(shownStage).toBe(ss1Name);
    // The inputs' local times, read back as the page's clock reads them.
    const shownMs = (testid: string) => page.getByTestId(testid).inputValue().then((value) => page.evaluate((v) => new Date(v).getTime(), value));
    expect(await shownMs('pitwall-replay-from')).toBe(new Date(window.opens_at).getTime());
    expect(await shownMs('pitwall-replay-to')).toBe(new Date(window.closes_at).getTime());
    const summary: ReplaySummary = (await call(stack, `/pitwall/replay/${runs[0]}`, { token })).json.run.result;
    await expectDiffOf(page, summary);
    await page.close();
  }, 180_000);

  it('previews the stage with its finish line moved, the stored layout left as it is', async () => {
    // A timekeeper checks a new place for the finish before an admin moves it: 30 m further, every car later there.
    const finishLine = demoId('geofence:ss1:finish');
    const storedGeometry = async () => (await db.raw('SELECT ST_AsText(geometry) AS wkt FROM geofences WHERE id = ?', [finishLine])).rows[0].wkt as string;
    const before = await storedGeometry();
    const page = await session!.newPage();
    await openOnSs1(page);
    const layout = page.getByTestId('pitwall-replay-layout');
    await layout.locator('summary').click();
    // Typed key by key, as a timekeeper types it: the "-" stays (it used to turn the field to 0, and -20 into +20).
    const startMove = layout.locator('[data-testid="pitwall-replay-move"][data-kind="start_line"] input');
    await startMove.click();
    await startMove.press('Control+A');
    await startMove.pressSequentially('-20');
    expect(await startMove.inputValue()).toBe('-20');
    // A digit too many: said before it is tried, naming the line, and nothing can be started.
    await startMove.fill('99999999');
    await expect.poll(() => page.getByTestId('pitwall-replay-layout-problem').innerText(), { timeout: 5_000 }).toMatch(/: at most [\d,]+ m either way \(the stage's length from its start line to its finish line, 5,000 m at least\)$/);
    expect(await page.getByTestId('pitwall-replay-start').locator('button').isDisabled()).toBe(true);
    await startMove.fill('0');
    const finishMove = layout.locator('[data-testid="pitwall-replay-move"][data-kind="finish_line"] input');
    await finishMove.fill('30');
    await page.getByTestId('pitwall-replay-layout-notice').waitFor({ state: 'visible', timeout: 5_000 });

    const { run, body } = await queueRun(page, 'pitwall-replay-start');
    expect(body.mode).toBe('preview');
    expect(body.geofences.map((g: { id: string }) => g.id).sort()).toEqual((await db('geofences').where({ stage: ss1 }).pluck('id')).sort());
    await expect.poll(() => page.getByTestId('pitwall-replay-status').getAttribute('data-status'), { timeout: 60_000 }).toBe('succeeded');

    const summary: ReplaySummary = (await call(stack, `/pitwall/replay/${run.id}`, { token })).json.run.result;
    const finishes = summary.diff.rows.filter((r) => r.collection === 'entry_crossings' && r.label.endsWith('finish'));
    expect(finishes).toHaveLength(ENTRIES);
    // About 30 m at stage speed: later by a second or so (#102's stored finish was moved 1.5 s later by hand).
    for (const row of finishes.filter((r) => r.entry !== editedEntry)) {
      expect(row.change).toBe('changed');
      expect(row.delta_ms!).toBeGreaterThan(300);
      expect(row.delta_ms!).toBeLessThan(5_000);
    }
    expect(summary.diff.rows.filter((r) => r.collection === 'entry_crossings' && !r.label.endsWith('finish'))).toEqual([]);
    await expectDiffOf(page, summary);
    expect(await page.getByTestId('pitwall-replay-summary').innerText()).toContain('Replay previewed with lines moved');
    expect(await storedGeometry()).toBe(before);

    // Reopened, the run shows the move it tried.
    await page.reload();
    await page.getByTestId('pitwall-replay-runs').waitFor({ state: 'visible', timeout: 30_000 });
    await pick(page, 'pitwall-replay-runs', /preview with lines moved · .* · succeeded/);
    await expect.poll(() => page.locator('[data-testid="pitwall-replay-move"][data-kind="finish_line"] input').inputValue(), { timeout: 10_000 }).toBe('30');
    await page.close();
  }, 180_000);

  it('asks before an apply, and says so when no job runner takes the run', async () => {
    // The job runner is down: the run stays queued, and the panel says why after a while.
    await jobs!.close();
    jobs = null;
    const finishAt = async () => (await db('entry_crossings').where({ entry: editedEntry, stage: ss1, kind: 'finish' }).first('crossed_at')).crossed_at as Date;
    const editedFinish = await finishAt();
    const page = await session!.newPage();
    await openOnSs1(page);
    await pick(page, 'pitwall-replay-mode', 'Apply');

    // Start asks first; Cancel queues nothing.
    const runsBefore = await count('replay_runs');
    await page.getByTestId('pitwall-replay-start').click();
    const confirm = page.getByTestId('pitwall-replay-confirm');
    await confirm.waitFor({ state: 'visible', timeout: 10_000 });
    expect(await confirm.innerText()).toContain(`${ss1Name}, `);
    await page.getByTestId('pitwall-replay-confirm-cancel').click();
    await confirm.waitFor({ state: 'hidden', timeout: 10_000 });
    expect(await count('replay_runs')).toBe(runsBefore);

    await page.getByTestId('pitwall-replay-start').click();
    const { run, body } = await queueRun(page, 'pitwall-replay-confirm-apply');
    expect(body).toMatchObject({ event, stage: ss1, mode: 'apply' });

    const status = page.getByTestId('pitwall-replay-status');
    expect(await status.getAttribute('data-status')).toBe('queued');
    expect(await status.innerText()).toBe('Queued: waiting for the Pitwall job runner…');
    await expect.poll(() => status.innerText(), { timeout: 40_000, interval: 1000 }).toMatch(/^Queued for \d+ s: no job runner has taken it yet\./);

    // A runner again: the queued apply runs, and puts the hand-edited finish back where the track crosses the line.
    jobs = await startJobs();
    await expect.poll(() => status.getAttribute('data-status'), { timeout: 60_000 }).toBe('succeeded');
    expect(await page.getByTestId('pitwall-replay-summary').innerText()).toMatch(/^Replay applied over .*; applied: \d+ facts? written, \d+ stored facts? replaced by them or no longer found\./);
    expect((await finishAt()).getTime()).toBe(editedFinish.getTime() - EDIT_MS);
    await page.close();
  }, 180_000);
});
