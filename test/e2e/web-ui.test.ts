// End-to-end: the web UI in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core)
// against a real Berth with images pushed by skopeo. A person signs in, finds and opens an image, creates a
// team and a robot (whose secret is shown once and works), a user and a webhook whose test ping reaches a
// local receiver, runs a garbage collection dry run, and finds all of it in the audit log. Screenshots of
// the main pages are saved under test/artifacts/screenshots/ (BERTH_UPDATE_SCREENSHOTS=1 also refreshes
// docs/screenshots/).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { ApiClient } from '../helpers/api.js';
import { ADMIN_PASSWORD, ROOT, removeDir, startBerth, tempDir, type BerthProcess } from '../helpers/berth.js';
import { launchBrowser, requireChromium, screenshot, type Browser } from '../helpers/browser.js';
import { makeImage, writeLayout, type BuiltImage } from '../helpers/ocilayout.js';
import { Receiver, waitFor } from '../helpers/receiver.js';
import { containersConfig, requireTool, Skopeo } from '../helpers/tools.js';
import { FIXTURE, startSlapd, type Slapd } from '../helpers/slapd.js';
import * as OTPAuth from 'otpauth';

let berth: BerthProcess;
let receiver: Receiver;
let browser: Browser;
let page: Page;
let work: string;
let app: BuiltImage;
let slapd: Slapd;

const ROBOT_PATTERN = 'acme/app';

before(async () => {
  requireChromium();
  requireTool('skopeo');
  assert.ok(existsSync(path.join(ROOT, 'web/dist/index.html')), 'the web UI is not built: run npm run build');
  receiver = await new Receiver().start();
  slapd = await startSlapd();
  berth = await startBerth({ auth: true, config: {
    webhooks: { allowLoopback: true },
    // Directory accounts sign in to the UI like local ones.
    auth: { ldap: { enabled: true, url: slapd.url, bindDn: FIXTURE.service.dn, bindPassword: FIXTURE.service.password, userBaseDn: FIXTURE.peopleDn } },
  } });

  const admin = new ApiClient(berth.url);
  assert.equal((await admin.login('admin', ADMIN_PASSWORD)).status, 200);
  assert.equal((await admin.post('/organizations', { name: 'acme' })).status, 201);

  work = await tempDir('berth-e2e-web-');
  const cfg = await containersConfig(path.join(work, 'cfg'));
  const skopeo = new Skopeo(cfg, path.join(work, 'cfg', 'tmp'));
  const layout = path.join(work, 'layout');
  app = makeImage({ layers: 3, label: 'web-ui', randomSize: 200_000 });
  await writeLayout(layout, { app, multi: { images: [makeImage({ arch: 'amd64', layers: 1 }), makeImage({ arch: 'arm64', layers: 1 })] } });
  const creds = ['--dest-creds', `admin:${ADMIN_PASSWORD}`];
  await skopeo.ok(['copy', '--dest-tls-verify=false', ...creds, `oci:${layout}:app`, `docker://${berth.host}/acme/app:1.0`]);
  await skopeo.ok(['copy', '--dest-tls-verify=false', ...creds, `oci:${layout}:app`, `docker://${berth.host}/acme/app:latest`]);
  await skopeo.ok(['copy', '--all', '--dest-tls-verify=false', ...creds, `oci:${layout}:multi`, `docker://${berth.host}/acme/platform:v2`]);
  await skopeo.ok(['inspect', '--tls-verify=false', '--creds', `admin:${ADMIN_PASSWORD}`, `docker://${berth.host}/acme/app:1.0`]);

  browser = await launchBrowser({ width: 1280, height: 860 });
  page = browser.page;
  page.setDefaultTimeout(15_000);
  await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: berth.url });
});

after(async () => {
  await browser?.close();
  await berth?.stop();
  await receiver?.close();
  await slapd?.stop();
  if (berth) await removeDir(berth.dataDir);
  if (work) await removeDir(work);
});

const heading = (name: string | RegExp) => page.getByRole('heading', { level: 1, name });
const nav = (name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

/** The heading of the page has focus after a navigation (screen readers start there). */
async function focusOnHeading(name: string | RegExp) {
  await heading(name).waitFor();
  await page.waitForFunction(() => document.activeElement?.tagName === 'H1', undefined, { timeout: 5_000 });
}

/** Signs in from the sign-in page, which stays at the address it was shown for. */
async function signIn(landing: string) {
  await page.getByLabel('User name').fill('admin');
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await heading(landing).waitFor();
}

test('sign in: a wrong password is refused with the API message, the right one opens the dashboard', async () => {
  await page.goto(`${berth.url}/`);
  await heading('Sign in to Berth').waitFor();
  await screenshot(page, 'login', { fullPage: false });
  await page.getByLabel('User name').fill('admin');
  await page.getByLabel('Password').fill('not-the-password-at-all');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.innerText(), /invalid user name, password or code/);
  assert.doesNotMatch(await alert.innerText(), /[{}]/, 'errors are shown as text, never raw JSON');
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await heading('Dashboard').waitFor();
});

test('dashboard: storage per namespace and repository, and activity over time, as charts', async () => {
  const storage = page.getByRole('figure', { name: /per organization or user namespace/ });
  await storage.getByRole('link', { name: 'acme' }).waitFor();
  const largest = page.getByRole('figure', { name: /per repository/ });
  await largest.getByRole('link', { name: 'acme/app' }).waitFor();
  const activity = page.getByRole('figure', { name: /Pushes and pulls per day/ });
  await activity.locator('svg rect:not([height="0"])').first().waitFor();
  // The same numbers as a table, for those who cannot see the chart.
  await activity.getByRole('button', { name: 'Show data' }).click();
  await activity.getByRole('table').waitFor();
  await activity.getByRole('button', { name: 'Show chart' }).click();
  await screenshot(page, 'dashboard');
});

test('find a pushed image, sort its tags, copy a pull command, and open the tag', async () => {
  await nav('Repositories').click();
  await focusOnHeading('Repositories');
  await page.getByRole('searchbox', { name: 'Search repositories' }).fill('app');
  await page.getByRole('link', { name: 'acme/platform' }).waitFor({ state: 'detached' });
  await page.getByRole('link', { name: 'acme/app', exact: true }).waitFor();
  await screenshot(page, 'repositories');

  await page.getByRole('link', { name: 'acme/app', exact: true }).click();
  await focusOnHeading('acme/app');
  const tags = page.getByRole('table', { name: /Tags of acme\/app/ });
  await tags.getByRole('link', { name: '1.0' }).waitFor();
  await tags.getByRole('link', { name: 'latest' }).waitFor();
  await tags.getByRole('button', { name: /^Tag/ }).first().waitFor();
  await tags.getByRole('columnheader', { name: /Size/ }).getByRole('button').click();
  await page.waitForFunction(() => document.querySelector('th[aria-sort="descending"]')?.textContent?.includes('Size'));
  await tags.getByRole('button', { name: `Tag: pull command for acme/app:1.0` }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), `docker pull ${berth.host}/acme/app:1.0`);
  await screenshot(page, 'repository-tags');
  // The server filters tags by name and counts them.
  await page.getByRole('searchbox', { name: 'Filter tags' }).fill('1.');
  await tags.getByRole('link', { name: 'latest' }).waitFor({ state: 'detached' });
  await page.getByText(/Tags 1–1 of 1$/).waitFor();
  await page.getByRole('searchbox', { name: 'Filter tags' }).fill('');
  await tags.getByRole('link', { name: 'latest' }).waitFor();

  await tags.getByRole('link', { name: '1.0' }).click();
  await focusOnHeading('acme/app:1.0');
  await page.getByText(app.manifestDesc.digest, { exact: true }).waitFor();
  const config = page.getByRole('tabpanel');
  await config.getByText('/bin/sh', { exact: true }).waitFor();
  await config.getByText('org.example.label').waitFor();
  await config.getByText('berth-e2e layer 2').waitFor();
  await page.getByText('Vulnerability scanning and signature verification: not available yet').waitFor();
  await screenshot(page, 'tag-details');

  await page.getByRole('tab', { name: /Layers/ }).click();
  for (const l of app.layers) await page.locator(`code[title="${l.desc.digest}"]`).waitFor();
  await page.getByRole('tab', { name: /^Manifest/ }).click();
  await page.getByRole('tabpanel').getByText(`"${app.configDesc.digest}"`).waitFor();

  // A multi-platform index lists its platforms.
  await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'Repositories' }).click();
  await page.getByRole('searchbox', { name: 'Search repositories' }).fill('platform');
  await page.getByRole('link', { name: 'acme/platform' }).click();
  const multi = page.getByRole('table', { name: /Tags of acme\/platform/ });
  await multi.getByText('linux/amd64').waitFor();
  await multi.getByText('linux/arm64').waitFor();
});

test('create a team and a robot account whose secret is shown once and logs in', async () => {
  await nav('Organizations').click();
  await page.getByRole('link', { name: 'acme', exact: true }).click();
  await focusOnHeading('acme');
  await page.getByRole('tab', { name: 'Teams' }).click();
  await page.getByRole('button', { name: 'New team' }).click();
  const teamDialog = page.getByRole('dialog', { name: 'New team' });
  await teamDialog.getByLabel('Team name').fill('builders');
  await teamDialog.getByRole('button', { name: 'Create team' }).click();
  await page.getByRole('table', { name: 'Teams of acme' }).getByRole('link', { name: 'builders' }).waitFor();

  await page.getByRole('tab', { name: 'Robot accounts' }).click();
  await page.getByRole('button', { name: 'New robot account' }).click();
  const robotDialog = page.getByRole('dialog', { name: 'New robot account' });
  await robotDialog.getByLabel('Name', { exact: true }).fill('ci');
  await robotDialog.getByLabel('Repository pattern 1').fill(ROBOT_PATTERN);
  await robotDialog.getByRole('checkbox', { name: 'push' }).check();
  await robotDialog.getByRole('button', { name: 'Create robot' }).click();
  const shown = page.getByRole('dialog', { name: 'Robot acme+ci' });
  await shown.waitFor();
  const secret = (await shown.getByTestId('secret-once').locator('.copy-field-value').first().innerText()).trim();
  assert.ok(secret.length >= 20, `a robot secret is shown (${secret.length} characters)`);
  const token = await fetch(`${berth.url}/token?service=berth&scope=repository:acme/app:pull,push`, {
    headers: { authorization: `Basic ${Buffer.from(`acme+ci:${secret}`).toString('base64')}` },
  });
  assert.equal(token.status, 200, 'the robot logs in with the secret the page showed');
  await screenshot(page, 'robot-secret', { fullPage: false });
  await shown.getByRole('button', { name: 'I have copied the secret' }).click();
  await shown.waitFor({ state: 'hidden' });
  assert.equal(await page.getByText(secret).count(), 0, 'the secret is gone once the dialog is closed');
  await page.getByRole('table', { name: 'Robot accounts of acme' }).getByText('acme+ci').waitFor();
  await screenshot(page, 'organization-robots');
});

test('administer users: create one', async () => {
  await nav('Users').click();
  await focusOnHeading('Users');
  await page.getByRole('button', { name: 'New user' }).click();
  const d = page.getByRole('dialog', { name: 'New local user' });
  await d.getByLabel('User name').fill('alice');
  await d.getByLabel('Initial password').fill('correct-horse-battery-9');
  await d.getByRole('button', { name: 'Create user' }).click();
  await d.waitFor({ state: 'hidden' });
  await page.getByRole('table', { name: 'Users' }).getByText('alice', { exact: true }).waitFor();
  await page.getByRole('button', { name: 'Disable alice' }).waitFor();
  await screenshot(page, 'admin-users');
});

test('add a webhook and send a test ping that the receiver gets; the delivery shows in its history', async () => {
  await nav('Webhooks').click();
  await focusOnHeading('Webhooks');
  await page.getByRole('button', { name: 'New webhook' }).first().click();
  const d = page.getByRole('dialog', { name: 'New webhook' });
  await d.getByLabel('Name').fill('ci-hook');
  await d.getByLabel('Payload URL').fill(receiver.url('/hook'));
  await d.getByRole('checkbox', { name: 'Delete' }).check();
  await d.getByRole('button', { name: 'Add webhook' }).click();
  const secret = page.getByRole('dialog', { name: 'Webhook ci-hook added' });
  await secret.getByText(/^whsec_/).waitFor();
  await secret.getByRole('button', { name: 'I have copied the secret' }).click();

  await page.getByRole('button', { name: 'Send test ping to ci-hook' }).click();
  await page.getByRole('status').filter({ hasText: 'Test event sent to ci-hook' }).waitFor();
  const got = await waitFor('the ping at the receiver', () => receiver.at('/hook')[0], 20_000);
  assert.match(got.body.toString('utf8'), /ping/i, 'the receiver got the test event');
  assert.ok(got.headers['berth-webhook-signature'], 'the ping is signed');
  await screenshot(page, 'webhooks');

  await page.getByRole('link', { name: 'ci-hook' }).click();
  await focusOnHeading('Webhook ci-hook');
  const deliveries = page.locator('table.deliveries');
  for (let i = 0; i < 40 && (await deliveries.getByText('delivered').count()) === 0; i++) {
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.waitForTimeout(250);
  }
  await deliveries.getByText('delivered').first().waitFor();
  await deliveries.getByRole('button', { name: /^#\d+/ }).first().click();
  await page.getByRole('table', { name: /Attempts of delivery/ }).getByText('200').waitFor();
  await screenshot(page, 'webhook-deliveries');
});

test('garbage collection: a dry run shows progress and its report', async () => {
  await nav('Garbage collection').click();
  await focusOnHeading('Garbage collection');
  await page.getByRole('button', { name: 'Start dry run' }).click();
  await page.getByRole('heading', { name: 'Report' }).waitFor({ timeout: 30_000 });
  await page.getByRole('table', { name: 'Recent garbage collection runs' }).getByText('done').waitFor();
});

test('the audit log shows what was just done, filters it, and reports the chain intact', async () => {
  await nav('Audit log').click();
  await focusOnHeading('Audit log');
  await page.getByText('Intact: every record matches the chain and the signed checkpoints.').waitFor();
  const records = page.getByRole('table', { name: /Audit records/ });
  for (const action of ['team.create', 'robot.create', 'user.create', 'webhook.create', 'webhook.ping', 'gc.run']) {
    await records.getByText(action, { exact: true }).first().waitFor();
  }
  await screenshot(page, 'audit', { fullPage: false });

  // Export what matches, with progress while it streams; the file holds the records.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export' }).click()]);
  assert.match(download.suggestedFilename(), /^berth-audit-.*\.jsonl$/);
  const lines = (await readFile(await download.path(), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { action: string });
  for (const action of ['team.create', 'robot.create', 'webhook.ping']) assert.ok(lines.some((r) => r.action === action), `the export holds ${action}`);
  await page.getByRole('status').filter({ hasText: /Exported \d+ records/ }).waitFor();

  await page.getByLabel('Action or prefix').fill('robot.');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForFunction(() => [...document.querySelectorAll('table.audit-table tbody tr td:nth-child(3)')].every((td) => td.textContent?.startsWith('robot.')));
  await records.getByText('robot.create').first().waitFor();
  assert.equal(await records.getByText('team.create').count(), 0, 'the action filter applies');
});

test('a narrow window (laptop split screen) keeps every page usable without sideways scrolling', async () => {
  await page.setViewportSize({ width: 700, height: 900 });
  await nav('Repositories').click();
  await page.getByRole('searchbox', { name: 'Search repositories' }).fill('acme/app');
  await page.getByRole('link', { name: 'acme/app', exact: true }).click();
  await heading('acme/app').waitFor();
  await page.getByRole('table', { name: /Tags of acme\/app/ }).getByRole('link', { name: '1.0' }).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the window`);
  await screenshot(page, 'narrow-repository-tags');
  // The dark theme follows the system setting.
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.getByRole('table', { name: /Tags of acme\/app/ }).getByRole('link', { name: '1.0' }).click();
  await heading('acme/app:1.0').waitFor();
  await screenshot(page, 'narrow-tag-details-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1280, height: 860 });
});

test('an ended session returns to the sign-in page with a message; signing out says so too', async () => {
  await browser.context.clearCookies();
  await nav('Users').click();
  await heading('Sign in to Berth').waitFor();
  await page.getByText('Your session has ended. Sign in again to continue.').waitFor();
  await signIn('Users');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await heading('Sign in to Berth').waitFor();
  await page.getByText('You have signed out.').waitFor();
  const unexpected = browser.errors.filter((e) => !/Failed to load resource: the server responded with a status of 401/.test(e));
  assert.deepEqual(unexpected, [], 'no script errors in the page');
});

test('a directory (LDAP) account and an account with a second factor sign in through the same page', async () => {
  await browser.context.clearCookies();
  await page.goto(`${berth.url}/`);
  await heading('Sign in to Berth').waitFor();
  // (A local alice was created above, and a local account owns its name: bob comes from the directory.)
  await page.getByLabel('User name').fill('bob');
  await page.getByLabel('Password').fill(FIXTURE.users.bob.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await heading('Dashboard').waitFor();
  await page.getByText(/Signed in as/).getByText('bob').waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await heading('Sign in to Berth').waitFor();

  // A local account with TOTP: the password first, then the code.
  const api = new ApiClient(berth.url);
  await api.login('admin', ADMIN_PASSWORD);
  assert.equal((await api.post('/users', { name: 'tina', password: 'second-factor-secret-71' })).status, 201);
  const tina = new ApiClient(berth.url);
  await tina.login('tina', 'second-factor-secret-71');
  const enrol = (await tina.post('/user/totp')).body as { secret: string };
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrol.secret), digits: 6, period: 30, algorithm: 'SHA1' });
  assert.equal((await tina.post('/user/totp/confirm', { code: totp.generate() })).status, 204);
  await page.getByLabel('User name').fill('tina');
  await page.getByLabel('Password').fill('second-factor-secret-71');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await heading('Enter your one-time code').waitFor();
  await page.getByLabel('One-time code').fill('000000');
  await page.getByRole('button', { name: 'Verify and sign in' }).click();
  await page.getByRole('alert').waitFor();
  // The next time step's code (the enrolment used the current one; each code works once).
  await page.getByLabel('One-time code').fill(totp.generate({ timestamp: Date.now() + 30_000 }));
  await page.getByRole('button', { name: 'Verify and sign in' }).click();
  await heading('Dashboard').waitFor();
  await page.getByText(/Signed in as/).getByText('tina').waitFor();
});

test('field errors, platforms, podman, not found, repository delete, and the administrators-only page', async () => {
  await browser.context.clearCookies();
  await page.goto(`${berth.url}/admin/users`);
  await signIn('Users');
  // A name the server refuses: the reason stands next to the field, not in a banner.
  await page.getByRole('button', { name: 'New user' }).click();
  const d = page.getByRole('dialog', { name: 'New local user' });
  await d.getByLabel('User name').fill('Not Valid');
  await d.getByLabel('Initial password').fill('correct-horse-battery-9');
  await d.getByRole('button', { name: 'Create user' }).click();
  await d.locator('.field-error').first().waitFor();
  assert.match(await d.locator('.field-error').first().innerText(), /lower-case/);
  assert.equal(await d.getByRole('alert').count(), 0, 'no "Something went wrong" banner');
  await screenshot(page, 'field-error', { fullPage: false });
  await d.getByRole('button', { name: 'Cancel' }).click();

  await page.goto(`${berth.url}/repositories/acme/app`);
  const tags = page.getByRole('table', { name: /Tags of acme\/app/ });
  await tags.getByText('linux/amd64').first().waitFor();
  await page.getByText(`podman pull ${berth.host}/acme/app:latest`, { exact: true }).waitFor();

  await page.goto(`${berth.url}/repositories/acme/nothing-here`);
  await page.getByText('Repository not found').waitFor();
  assert.equal(await page.getByText(/You may pull/).count(), 0);
  await screenshot(page, 'repository-not-found');

  await page.goto(`${berth.url}/repositories/acme/platform`);
  await page.getByRole('button', { name: 'Delete repository' }).click();
  const del = page.getByRole('dialog', { name: 'Delete repository' });
  assert.equal(await del.getByRole('button', { name: 'Delete repository' }).isDisabled(), true, 'not before the name is typed');
  await del.getByLabel('Type acme/platform to confirm').fill('acme/platform');
  await screenshot(page, 'repository-delete', { fullPage: false });
  await del.getByRole('button', { name: 'Delete repository' }).click();
  await heading('Repositories').waitFor();
  assert.equal((await fetch(`${berth.url}/v2/acme/platform/tags/list`, { headers: { authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}` } })).status, 404);

  // Someone who is not an administrator: one plain page, no failing requests.
  await browser.context.clearCookies();
  await page.goto(`${berth.url}/admin/audit`);
  await page.getByLabel('User name').fill('alice');
  await page.getByLabel('Password').fill('correct-horse-battery-9');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await heading('Administrators only').waitFor();
  assert.equal(await page.getByRole('alert').count(), 0);
  await screenshot(page, 'admins-only');
});
