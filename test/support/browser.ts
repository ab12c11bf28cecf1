import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { repoRoot } from '../../src/devstack/directus-process.ts';
import type { TestStack } from './stack.ts';

/** Screenshots are kept as artifacts of the test run. */
export const artifactsDir = join(repoRoot, 'artifacts');

/** Debian's chromium; the flags keep it from reaching for the network this machine does not have. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/** Logs into the Directus admin app (as the admin unless told) and waits for a module, as a person would. */
export async function loginToDirectus(page: Page, stack: TestStack, as: { email: string; password: string } = { email: stack.adminEmail, password: stack.adminPassword }): Promise<void> {
  await page.goto(`${stack.directusUrl}/admin/login`);
  await page.locator('input[type="email"]').fill(as.email);
  await page.locator('input[type="password"]').fill(as.password);
  await page.locator('button[type="submit"]').click();
  await page.waitForURL(/\/admin\/(content|insights|users|settings)/, { timeout: 30_000 });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(artifactsDir, { recursive: true });
  const path = join(artifactsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
