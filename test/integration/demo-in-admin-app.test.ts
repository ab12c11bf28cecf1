import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchBrowser, loginToDirectus, screenshot } from '../support/browser.ts';

const stack = inject('stack');

describe('the demo race in the Directus admin app', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('shows the Pitwall folders and the 20 entries of the demo race', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await loginToDirectus(page, stack);
    await page.goto(`${stack.directusUrl}/admin/content/entries`);
    await expect.poll(() => page.getByText('Al-Rajhi / Gottschalk').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    for (const folder of ['Pitwall Race Setup', 'Pitwall Timing', 'Pitwall Telemetry', 'Pitwall System', 'IO Mappings']) {
      await expect.poll(() => page.getByText(folder, { exact: true }).count(), { timeout: 10_000 }).toBeGreaterThan(0);
    }
    await expect.poll(() => page.getByText(/^\s*20 items\s*$/i).count(), { timeout: 10_000 }).toBeGreaterThan(0);
    await screenshot(page, 'demo-entries');
  });

  it('shows a stage gate on the map editor', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await loginToDirectus(page, stack);
    const token = (await (await page.request.post(`${stack.directusUrl}/auth/login`, { data: { email: stack.adminEmail, password: stack.adminPassword } })).json()).data.access_token;
    const gates = (await (await page.request.get(`${stack.directusUrl}/items/geofences?filter[kind][_eq]=start_line&fields=id&limit=1`, { headers: { authorization: `Bearer ${token}` } })).json()).data;
    await page.goto(`${stack.directusUrl}/admin/content/geofences/${gates[0].id}`);
    await expect.poll(() => page.locator('.maplibregl-map, .mapboxgl-map').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    await screenshot(page, 'demo-gate-on-map');
  });
});
