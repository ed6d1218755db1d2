// Headless Chromium for the web UI tests: Debian's /usr/bin/chromium driven by playwright-core (no browser
// download). A missing chromium is a test failure that says how to install it, never a skip.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from './berth.js';

export const CHROMIUM = process.env.BERTH_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.join(ROOT, 'test/artifacts/screenshots');
export const DOC_SCREENSHOTS = path.join(ROOT, 'docs/screenshots');

export function requireChromium(): string {
  assert.ok(existsSync(CHROMIUM), `chromium is required: apt-get install -y chromium (looked for ${CHROMIUM})`);
  return CHROMIUM;
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** every console error and uncaught page error so far */
  errors: string[];
  close(): Promise<void>;
}

/** Starts headless Chromium with a fresh profile and one page of the given size. */
export async function launchBrowser(opts: { width?: number; height?: number } = {}): Promise<Browser> {
  const executablePath = requireChromium();
  const profile = await mkdtemp(path.join(tmpdir(), 'berth-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check', '--disable-extensions'],
    viewport: { width: opts.width ?? 1280, height: opts.height ?? 860 },
    deviceScaleFactor: 1,
    colorScheme: 'light',
    reducedMotion: 'reduce',
    locale: 'en-GB',
    timezoneId: 'UTC',
    acceptDownloads: true,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  return {
    context, page, errors,
    async close() {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Saves a screenshot as a test artifact (test/artifacts/screenshots/NAME.png). With
 * BERTH_UPDATE_SCREENSHOTS=1 it also replaces the documentation's copy (docs/screenshots/NAME.png), so
 * ordinary test runs leave the work tree alone.
 */
export async function screenshot(page: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<string> {
  await mkdir(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  // Notifications that happen to be up and the caret do not belong in the picture.
  await page.screenshot({ path: file, fullPage: opts.fullPage ?? true, animations: 'disabled', caret: 'hide', style: '.toasts { display: none !important; }' });
  if (process.env.BERTH_UPDATE_SCREENSHOTS === '1') {
    await mkdir(DOC_SCREENSHOTS, { recursive: true });
    await copyFile(file, path.join(DOC_SCREENSHOTS, `${name}.png`));
  }
  return file;
}
