import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { demoEntries, demoId } from '../../src/demo/demo-race.ts';
import type { FactBatch } from '../../src/domain/pipeline/fact-batch.ts';
import { factId } from '../../src/domain/pipeline/fact-ids.ts';
import { factKey, type CrossingFact, type StageResultFact } from '../../src/domain/pipeline/facts.ts';
import { formatRaceTime } from '../../src/domain/timing/format-race-time.ts';
import { formatTimeOfDay } from '../../src/domain/timing/format-time-of-day.ts';
import { writeProcessorStatus } from '../../src/store/processor-status.ts';
import { artifactsDir, launchBrowser, loginToDirectus, screenshot } from '../support/browser.ts';
import { adminToken, call } from '../support/directus-client.ts';

const stack = inject('stack');
const stage = demoId('stage:ss2');
const startGate = demoId('geofence:ss2:start');
const finishGate = demoId('geofence:ss2:finish');
// Entries no other test times on this stage.
const crews = [demoEntries[13]!, demoEntries[15]!, demoEntries[16]!];
const t0 = Date.UTC(2026, 0, 15, 9, 0, 0, 0);
const elapsed = [200_000, 201_500, 203_036];
const crossing = (entry: (typeof crews)[number], gate: string, kind: 'start' | 'finish', at: number): CrossingFact => ({
  type: 'crossing', key: factKey.crossing(entry.id, gate, at), entryId: entry.id, stageId: stage, gateId: gate, deviceId: entry.imei, kind, crossedAt: at, speedKmh: 90,
});
const starts = crews.map((entry, i) => crossing(entry, startGate, 'start', t0 + i * 60_000));
const finishes = crews.map((entry, i) => crossing(entry, finishGate, 'finish', t0 + i * 60_000 + elapsed[i]!));
const results: StageResultFact[] = crews.map((entry, i) => ({
  type: 'stage_result', key: factKey.stageResult(entry.id, stage), entryId: entry.id, stageId: stage, status: 'finished',
  startedAt: t0 + i * 60_000, finishedAt: t0 + i * 60_000 + elapsed[i]!, elapsedMs: elapsed[i]!, penaltyMs: 0, totalMs: elapsed[i]!,
}));
const instance = `views-test-${randomBytes(3).toString('hex')}`;

/**
 * What a Race Control user sees in the admin app, in a real browser: the health panel of the Race Control dashboard
 * (healthy, then silent), and the timing collections in their default layouts with race times.
 */
describe('the race office in the admin app', () => {
  let db: Knex;
  let token: string;
  let browser: Browser | null = null;
  let session: BrowserContext | null = null;
  let page: Page;
  let dashboard: string;
  let steward: { id: string; email: string; password: string } | null = null;
  /** When the dashboard's anomaly began: the list shows its time of day. */
  const anomalyAt = new Date();

  /** Text of the tabular layout's rows, cell by cell, as the app renders them. */
  const tableRows = async () =>
    page.locator('.v-table tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => (td as unknown as { innerText: string }).innerText.trim()).filter(Boolean)));

  beforeAll(async () => {
    db = knexFactory({ client: 'pg', connection: stack.databaseUrl, pool: { min: 0, max: 2 } });
    token = await adminToken(stack);
    const stored = await call(stack, '/pitwall/facts', { token: stack.processorToken, body: { batch: `views-${randomBytes(4).toString('hex')}`, source: 'live', upserts: [...starts, ...finishes, ...results], retractions: [] } satisfies FactBatch });
    expect(stored.status, stored.text).toBe(200);
    // One processor's report, as its status writer makes it (processor-status.test.ts runs a real one).
    await db('pitwall_processor_status').delete();
    await writeProcessorStatus(db, {
      instance, startedAt: new Date(Date.now() - 3_600_000), healthy: true, reasons: [], positionsStoredTotal: 1_234_567, positionsPerMinute: 1_200,
      lag: 0, pending: 12, oldestPendingSeconds: 0.3, outboxPending: 0, outboxParked: 0, deadLettersTotal: 2, deadLettersPerMinute: 0,
    });
    dashboard = (await call(stack, '/dashboards?filter[name][_eq]=Race Control&fields=id', { token })).json.data[0].id;
    const anomaly = await call(stack, '/items/anomalies', {
      token, body: { kind: 'speeding', severity: 'warning', entry: crews[0]!.id, stage, device_id: crews[0]!.imei, started_at: anomalyAt.toISOString(), details: { test: 'views' } },
    });
    expect(anomaly.status, anomaly.text).toBe(200);

    const role = (await call(stack, '/roles?filter[name][_eq]=Race Control&fields=id', { token })).json.data[0].id;
    const credentials = { email: `timekeeper-${randomUUID().slice(0, 8)}@pitwall.example.com`, password: randomBytes(16).toString('hex') };
    const user = await call(stack, '/users', { token, body: { ...credentials, role, status: 'active' } });
    expect(user.status, user.text).toBe(200);
    steward = { id: user.json.data.id, ...credentials };

    browser = await launchBrowser();
    // Crossing times read on the clock of the reader's zone: UTC here, so the test knows what to expect.
    session = await browser.newContext({ viewport: { width: 1600, height: 1000 }, timezoneId: 'UTC' });
    page = await session.newPage();
    await loginToDirectus(page, stack, steward);
  }, 240_000);

  afterAll(async () => {
    await session?.close();
    await browser?.close();
    if (steward) await call(stack, `/users/${steward.id}`, { token, method: 'DELETE' });
    await call(stack, '/items/entry_crossings', { token, method: 'DELETE', body: [...starts, ...finishes].map((c) => factId(c.key)) });
    await call(stack, '/items/stage_results', { token, method: 'DELETE', body: results.map((r) => factId(r.key)) });
    await db('race_events').whereIn('entry', crews.map((c) => c.id)).delete();
    await db('anomalies').whereIn('entry', crews.map((c) => c.id)).delete();
    await db('entry_penalties').whereIn('entry', crews.map((c) => c.id)).andWhere({ kind: 'manual' }).delete();
    await db('pitwall_processor_status').delete();
    await db.destroy();
  });

  it('shows the processor’s health on the dashboard, then that it went silent and since when', async () => {
    // The report is written once: made fresh again before each state is awaited, as a reporting processor keeps it,
    // so that a slow machine's seconds do not turn it silent (after 30 s) before the silent step below.
    const reported = () => db('pitwall_processor_status').where({ instance }).update({ updated_at: db.fn.now() });
    // Runs earlier test files left queued would read as runs no job runner takes.
    for (const table of ['replay_runs', 'backfill_runs']) await db(table).whereIn('status', ['queued', 'running']).update({ status: 'cancelled' });
    // Written when the file began: on a loaded machine the tests before this one took more than the 30 s after which a
    // processor reads as silent (a CI run failed here).
    await reported();
    await page.goto(`${stack.directusUrl}/admin/insights/${dashboard}`);
    const panel = page.getByTestId('pitwall-health');
    await expect.poll(() => panel.getAttribute('data-state'), { timeout: 30_000 }).toBe('ok');
    expect(await page.getByTestId('pitwall-health-headline').innerText()).toMatch(/Healthy · 1 processor · reported \d+ s ago/);
    expect(await page.getByTestId('pitwall-health-positions').innerText()).toContain('1,200');
    expect(await page.getByTestId('pitwall-health-positions').getAttribute('data-warn')).toBe('false');
    expect(await page.getByTestId('pitwall-health-dead-letters').innerText()).toContain('2');
    await panel.screenshot({ path: join(artifactsDir, 'health-panel.png') });
    // Recent anomalies, newest first, with severity, kind, crew and the time of day it began (Directus's list panel
    // with the race-time display), not Directus's long date, which filled the narrow panel before the crew showed.
    await expect.poll(() => page.locator('.list').first().innerText(), { timeout: 20_000 }).toMatch(new RegExp(`Warning[\\s·]*Speeding[\\s·]*#${crews[0]!.raceNumber}[\\s·]*${formatTimeOfDay(anomalyAt, { timeZone: 'UTC', decimals: 0 })}[\\s·]`));

    // A fact batch Directus has refused for two minutes (a 500 on every try): the boards are behind, which the
    // processor's own health does not tell (Directus being down must not restart it).
    await reported();
    const [late] = await db('pitwall_outbox')
      .insert({ source: 'live', payload: JSON.stringify({ upserts: [], retractions: [] }), attempts: 40, last_error: 'HTTP 500: views test', created_at: db.raw("now() - interval '2 minutes'") })
      .returning('id');
    try {
      await expect.poll(() => panel.getAttribute('data-state'), { timeout: 20_000 }).toBe('unhealthy');
      expect(await page.getByTestId('pitwall-health-headline').innerText()).toBe('Unhealthy: results delayed 2 min (last try: HTTP 500: views test)');
      expect(await page.getByTestId('pitwall-health-outbox').getAttribute('data-warn')).toBe('true');
      expect(await page.getByTestId('pitwall-health-outbox').innerText()).toContain('1 fact batch waiting for Directus, oldest 2 min');
      await panel.screenshot({ path: join(artifactsDir, 'health-panel-results-delayed.png') });
    } finally {
      await db('pitwall_outbox').where({ id: late.id }).delete();
    }
    await reported();
    await expect.poll(() => panel.getAttribute('data-state'), { timeout: 20_000 }).toBe('ok');

    // A replay queued two minutes ago that no job runner took: the replay button would say "queued" for ever.
    await reported();
    const [queued] = await db('replay_runs').insert({ id: randomUUID(), status: 'queued', params: JSON.stringify({ mode: 'preview' }), processed: 0, date_created: db.raw("now() - interval '2 minutes'") }).returning('id');
    try {
      await expect.poll(() => page.getByTestId('pitwall-health-headline').innerText(), { timeout: 20_000 }).toBe(
        'Unhealthy: 1 replay run queued for 2 min with none worked on (is `pitwall jobs` running?)',
      );
    } finally {
      await db('replay_runs').where({ id: queued.id }).delete();
    }
    await reported();
    await expect.poll(() => panel.getAttribute('data-state'), { timeout: 20_000 }).toBe('ok');

    await db('pitwall_processor_status').where({ instance }).update({ updated_at: db.raw("now() - interval '3 minutes'") });
    const { updated_at } = await db('pitwall_processor_status').where({ instance }).first('updated_at');
    await expect.poll(() => panel.getAttribute('data-state'), { timeout: 20_000 }).toBe('silent');
    expect(await page.getByTestId('pitwall-health-headline').innerText()).toContain(`Processor silent since ${formatTimeOfDay(updated_at, { timeZone: 'UTC', decimals: 0 })} (3 min ago)`);
    expect(await page.getByTestId('pitwall-health-lag').getAttribute('data-warn')).toBe('true');
    await panel.screenshot({ path: join(artifactsDir, 'health-panel-silent.png') });
    await screenshot(page, 'race-control-dashboard-health');

    // Directus stops answering: the last reading stays, but is not called healthy or silent.
    await page.route('**/pitwall/status', (route) => route.abort());
    await expect.poll(() => panel.getAttribute('data-state'), { timeout: 20_000 }).toBe('unreachable');
    expect(await page.getByTestId('pitwall-health-headline').innerText()).toMatch(/^Health unknown: no reading since \d{2}:\d{2}:\d{2}$/);
    expect(await page.getByTestId('pitwall-health-error').isVisible()).toBe(true);
    await page.unroute('**/pitwall/status');
    await expect.poll(() => panel.getAttribute('data-state'), { timeout: 20_000 }).toBe('silent');
  }, 120_000);

  it('opens Stage Results by rank with race times and signed gaps', async () => {
    await page.goto(`${stack.directusUrl}/admin/content/stage_results?filter=${encodeURIComponent(JSON.stringify({ stage: { _eq: stage } }))}`);
    await page.locator('.v-table tbody tr').first().waitFor({ state: 'visible', timeout: 30_000 });
    const headers = await page.locator('.v-table thead th').evaluateAll((ths) => ths.map((th) => (th as unknown as { innerText: string }).innerText.trim()).filter(Boolean));
    expect(headers).toEqual(['Rank', 'Entry', 'Stage', 'Status', 'Total', 'Gap']);
    const rows = (await tableRows()).filter((cells) => crews.some((c) => cells.some((text) => text.includes(`#${c.raceNumber}`))));
    expect(rows).toEqual(
      crews.map((c, i) => [String(i + 1), `#${c.raceNumber} ${c.name}`, expect.any(String), 'Finished', formatRaceTime(elapsed[i]!), i === 0 ? '--' : formatRaceTime(elapsed[i]! - elapsed[0]!, { signed: true })]),
    );
    // "3:20" and "--" (Directus's empty value) for the leader, "3:21.5" "+0:01.5", "3:23.036" "+0:03.036".
    await screenshot(page, 'stage-results-race-times');
  }, 60_000);

  it('opens Entry Crossings newest first with the gate and the time of day to the millisecond', async () => {
    await page.goto(`${stack.directusUrl}/admin/content/entry_crossings`);
    await page.locator('.v-table tbody tr').first().waitFor({ state: 'visible', timeout: 30_000 });
    const rows = (await tableRows()).filter((cells) => crews.some((c) => cells.some((text) => text.includes(`#${c.raceNumber}`))));
    const expected = [...starts, ...finishes]
      .sort((a, b) => b.crossedAt - a.crossedAt)
      .map((c) => [`#${crews.find((e) => e.id === c.entryId)!.raceNumber} ${crews.find((e) => e.id === c.entryId)!.name}`, `SS2 ${c.kind}`, c.kind === 'start' ? 'Start' : 'Finish', formatTimeOfDay(c.crossedAt), '--', c.deviceId]);
    expect(rows).toEqual(expected);
    await screenshot(page, 'entry-crossings-times');
  }, 60_000);

  it('corrects a finish in the app to the millisecond, where the date-time picker stored .000', async () => {
    const finish = finishes[2]!;
    await page.goto(`${stack.directusUrl}/admin/content/entry_crossings/${factId(finish.key)}`);
    const input = page.getByTestId('pitwall-precise-time').locator('input');
    await input.waitFor({ state: 'visible', timeout: 30_000 });
    // The input shows before the item has loaded into it.
    await expect.poll(() => input.inputValue(), { timeout: 15_000 }).toBe('2026-01-15 09:05:23.036');
    // A typo is told at once, and nothing is stored.
    await input.fill('2026-01-15 09:05:23,536');
    expect(await page.getByTestId('pitwall-precise-time-problem').innerText()).toBe('Type the local date and time as 2026-12-06 20:35:33.842');
    await input.fill('2026-01-15 09:05:23.536');
    expect(await page.getByTestId('pitwall-precise-time-problem').count()).toBe(0);
    await page.keyboard.press('Control+s');
    const stored = () => db('entry_crossings').where({ id: factId(finish.key) }).first('crossed_at', 'corrected_at');
    await expect.poll(async () => (await stored()).crossed_at.toISOString(), { timeout: 15_000 }).toBe('2026-01-15T09:05:23.536Z');
    expect((await stored()).corrected_at).not.toBeNull();
    const result = () => db('stage_results').where({ stage, entry: crews[2]!.id }).first('elapsed_ms');
    await expect.poll(async () => Number((await result()).elapsed_ms), { timeout: 15_000 }).toBe(elapsed[2]! + 500);
    await screenshot(page, 'entry-crossing-corrected-to-the-millisecond');
  }, 90_000);

  it('lists entries by race number where a new penalty picks its entry', async () => {
    await page.goto(`${stack.directusUrl}/admin/content/entry_penalties/+`);
    const picker = page.locator('[data-field="entry"] .many-to-one');
    await picker.waitFor({ state: 'visible', timeout: 30_000 });
    await picker.click();
    const rows = page.locator('.v-drawer .v-table tbody tr');
    await rows.first().waitFor({ state: 'visible', timeout: 30_000 });
    // The race number is the row's first cell holding only digits (the others: a checkbox, the crew, the event).
    const numbers = await rows.evaluateAll((trs) =>
      trs.map((tr) => Number([...tr.querySelectorAll('td')].map((td) => (td as unknown as { innerText: string }).innerText.trim()).find((text) => /^\d+$/.test(text)))),
    );
    expect(numbers.length).toBeGreaterThan(5);
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    await screenshot(page, 'entry-picker-by-race-number');
  }, 60_000);

  it('gives a penalty typed as race time, where a bare "10" was 10 ms', async () => {
    const crew = crews[1]!;
    const given = await call(stack, '/items/entry_penalties', { token, body: { entry: crew.id, stage, kind: 'manual', amount_ms: 5_000, details: { reason: 'views test' } } });
    expect(given.status, given.text).toBe(200);
    const penalty = given.json.data.id as string;
    const result = () => db('stage_results').where({ stage, entry: crew.id }).first('penalty_ms', 'total_ms');
    await expect.poll(async () => Number((await result()).penalty_ms), { timeout: 15_000 }).toBe(5_000);

    await page.goto(`${stack.directusUrl}/admin/content/entry_penalties/${penalty}`);
    const input = page.locator('[data-field="amount_ms"]').getByTestId('pitwall-race-duration').locator('input');
    await input.waitFor({ state: 'visible', timeout: 30_000 });
    await expect.poll(() => input.inputValue(), { timeout: 15_000 }).toBe('0:05');
    // A typo is told at once, and nothing is stored.
    await input.fill('1:75');
    expect(await page.getByTestId('pitwall-race-duration-problem').innerText()).toBe('75 seconds: at most 59 after the minutes');
    await input.fill('1 30');
    expect(await page.getByTestId('pitwall-race-duration-problem').innerText()).toMatch(/^Type a race time: /);
    await input.fill('100:00:01');
    expect(await page.getByTestId('pitwall-race-duration-problem').innerText()).toBe('At most 100:00:00 here');
    // Emptied (Directus's input then gives null): the field stays, with nothing to tell.
    await input.fill('');
    expect(await page.getByTestId('pitwall-race-duration-problem').count()).toBe(0);
    expect(await input.isVisible()).toBe(true);
    await input.fill('10');
    expect(await page.getByTestId('pitwall-race-duration-problem').count()).toBe(0);
    await page.keyboard.press('Control+s');
    const stored = () => db('entry_penalties').where({ id: penalty }).first('amount_ms');
    await expect.poll(async () => Number((await stored()).amount_ms), { timeout: 15_000 }).toBe(10_000);
    await expect.poll(async () => Number((await result()).total_ms), { timeout: 15_000 }).toBe(elapsed[1]! + 10_000);

    await page.goto(`${stack.directusUrl}/admin/content/entry_penalties/${penalty}`);
    await input.waitFor({ state: 'visible', timeout: 30_000 });
    await expect.poll(() => input.inputValue(), { timeout: 15_000 }).toBe('0:10');
    await input.fill('1:30.25');
    await page.keyboard.press('Control+s');
    await expect.poll(async () => Number((await stored()).amount_ms), { timeout: 15_000 }).toBe(90_250);
    await screenshot(page, 'penalty-typed-as-race-time');
    // The list opens by race number with the waiver beside each penalty.
    await page.goto(`${stack.directusUrl}/admin/content/entry_penalties`);
    await page.locator('.v-table tbody tr').first().waitFor({ state: 'visible', timeout: 30_000 });
    expect((await tableRows()).some((cells) => cells.some((text) => text.includes(`#${crew.raceNumber}`)) && cells.includes('1:30.25'))).toBe(true);

    expect((await call(stack, `/items/entry_penalties/${penalty}`, { token, method: 'DELETE' })).status).toBe(204);
    await expect.poll(async () => Number((await result()).total_ms), { timeout: 15_000 }).toBe(elapsed[1]!);
  }, 90_000);
});
