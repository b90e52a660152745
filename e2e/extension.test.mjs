// The browser extension end to end, in Debian's Chromium and Firefox ESR (both
// headless), against the emulator and the real Worker under wrangler dev: one stack for
// both browsers. The flows that are the same in both come from extension-flows.mjs;
// what only one browser has (Firefox: containers, the release package, enterprise
// policy through policies.json) is below.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import { promisify } from 'node:util';

import { EXTENSION_ORIGIN, artifactsDir, launchExtension, test } from './browser.mjs';
import { ADDON_ID, FIREFOX_ORIGIN, launchFirefox } from './firefox.mjs';
import { REASON, active, alice, auditRecord, bannerText, bob, configure, go, impersonateVia, mainFlows, privateWindowFlows, reasonWindow, menuClick, signIn } from './extension-flows.mjs';
import { root, startStack } from './harness.mjs';

const t = {}; // {stack, auditorToken, b}: what the shared flows use

before(async () => {
  t.stack = await startStack({
    vars: {
      ACTAS_ALLOWED_ORIGINS: `${EXTENSION_ORIGIN},${FIREFOX_ORIGIN}`,
      ACTAS_REASON_REQUIRED: 'true',
      ACTAS_REASON_MIN_LENGTH: '8',
    },
  });
  await t.stack.emulator('PUT', '/_control/login', { autoLogin: 'ada' });
  t.auditorToken = (await t.stack.emulator('POST', '/_control/tokens', { username: 'grace' })).access_token;
  await mkdir(artifactsDir, { recursive: true });
});
after(async () => {
  await t.b?.close();
  await t.stack?.stop();
});

// ACTAS_E2E_ONLY=firefox (or chromium, release, ...: comma list) runs only the suites
// whose names contain one of the words.
const ONLY = (process.env.ACTAS_E2E_ONLY ?? '').toLowerCase().split(',').filter(Boolean);

/** A describe block with its own browser, started by launch() and closed after it. */
function withBrowser(name, launch, body) {
  const skip = ONLY.length > 0 && !ONLY.some((w) => name.toLowerCase().includes(w));
  describe(name, { skip }, () => {
    before(async () => {
      await t.b?.close();
      t.b = null;
      t.b = await launch();
    });
    after(async () => {
      await t.b?.close();
      t.b = null;
    });
    body();
  });
}

withBrowser('Chromium: the extension', () => launchExtension(), () => mainFlows(t));
withBrowser('Chromium: private windows', () => launchExtension({ incognito: true }), () => privateWindowFlows(t));
withBrowser('Firefox: the extension', () => launchFirefox(), () => mainFlows(t));

// The Firefox package as released (./build.sh package), installed from its zip, in a
// Firefox whose enterprise policy (policies.json) allows actas in private windows and
// sets part of its configuration (3rdparty.Extensions, read as storage.managed).
// Optional permission prompts are answered yes, as the admin would.
const MANAGED = { openMode: 'container', sessionMinutes: 45 };
let firefoxZip;

async function firefoxRelease() {
  const version = JSON.parse(await readFile(path.join(root, 'extension', 'manifest.json'), 'utf8')).version;
  await promisify(execFile)(path.join(root, 'build.sh'), ['package'], { cwd: root });
  firefoxZip = path.join(root, 'build', `actas-firefox-${version}.zip`);
  return launchFirefox({
    extension: firefoxZip,
    prefs: { 'extensions.webextOptionalPermissionPrompts': false },
    policies: {
      ExtensionSettings: { [ADDON_ID]: { private_browsing: true } },
      '3rdparty': { Extensions: { [ADDON_ID]: MANAGED } },
    },
  });
}

withBrowser('Firefox: the release package, with enterprise policy', firefoxRelease, () => {
  test('installed from the zip: container permissions, no loopback access until asked', async () => {
    const granted = await t.b.bg(() => chrome.permissions.getAll());
    assert.ok(granted.permissions.includes('contextualIdentities') && granted.permissions.includes('cookies'), 'container permissions');
    assert.deepEqual(granted.origins, [], 'no host access up front');
    const manifest = await t.b.bg(() => chrome.runtime.getManifest());
    assert.equal(manifest.key, undefined, 'no development key');
  });

  test('managed storage: the policy\'s settings are in force and locked in the options page', async () => {
    const page = await t.b.extensionPage('pages/options.html');
    await page.waitFor('#fields:enabled');
    assert.equal(await page.value('#openMode'), 'container');
    assert.equal(await page.value('#sessionMinutes'), '45');
    const locked = await page.evaluate(() => ['openMode', 'sessionMinutes', 'workerUrl'].map((k) => document.getElementById(k).disabled));
    assert.deepEqual(locked, [true, true, false]);
    assert.match(await page.text('[data-lock="openMode"]'), /set by your organisation/);
    assert.match(await page.text('#managed-note'), /managed by your organisation/);
    assert.equal(await page.evaluate(() => document.querySelector('#openMode [value=container]').disabled), false, 'containers are offered');
    await page.close();
  });

  test('options: saving asks for loopback access at run time, then sign-in works', async () => {
    const page = await configure(t, t.b, 'container');
    await page.close();
    const { origins } = await t.b.bg(() => chrome.permissions.getAll());
    assert.ok(origins.includes('http://127.0.0.1/*'), 'loopback access granted when asked');
    assert.equal(await signIn(t.b), 'ada@example.com');
  });

  // Containers: the admin's own session (Bob, in a normal tab) stays in the default
  // container; Alice's lands only in a fresh container, which End removes.
  let adminPage;
  let bobTab;
  const appURL = () => `${t.stack.emulatorURL}/apps/crm/`;
  const defaultCookies = async () => (await t.b.cookies(t.stack.emulatorURL)).map((c) => `${c.name}=${c.value}`).sort();
  /** The page text of a tab, read through the extension (container tabs are out of WebDriver's reach). */
  const tabText = (tabId) =>
    t.b.bg(async (tabId) => {
      const [r] = await chrome.scripting.executeScript({ target: { tabId }, func: () => document.body.innerText });
      return r?.result ?? '';
    }, tabId);

  test('container: the session lands only in a new container; the default container is untouched', async () => {
    const b = t.b;
    adminPage = await b.newTab(`${t.stack.emulatorURL}/admin`);
    await impersonateVia(b, adminPage, bob.uuid, 'tab');
    bobTab = await b.waitForPage((u) => u === appURL());
    await bobTab.waitForText('Signed in as Bob Baker');
    const before = await defaultCookies();
    assert.ok(before.some((c) => c.startsWith('BAREID_SESSION=')));

    const started = await menuClick(b, adminPage, alice.uuid);
    const win = await reasonWindow(b, started.requestId);
    assert.equal(await win.value('#mode'), 'container', 'the managed open mode');
    await win.fill('#reason', REASON);
    await go(win);
    const imp = (await active(b)).find((a) => a.mode === 'container');
    assert.match(imp.cookieStoreId, /^firefox-container-\d+$/);
    const tab = await b.bg((id) => chrome.tabs.get(id), imp.tabId);
    assert.equal(tab.cookieStoreId, imp.cookieStoreId, 'the tab is in the container');
    const containers = await b.bg(() => globalThis.browser.contextualIdentities.query({}));
    assert.ok(containers.some((c) => c.cookieStoreId === imp.cookieStoreId && c.name === 'actas crm'), 'the container exists');

    let text = '';
    for (let i = 0; i < 100 && !text.includes('Signed in as'); i++) {
      text = await tabText(imp.tabId).catch(() => '');
      if (!text.includes('Signed in as')) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(text, /Signed in as Alice Archer/);
    assert.match(await bannerText(b, imp.tabId), new RegExp(`Acting as Alice Archer \\(${alice.uuid}\\) in Customer CRM`));
    const jar = await b.bg(async ({ url, storeId }) => (await globalThis.browser.cookies.getAll({ url, storeId })).map((c) => c.name), { url: appURL(), storeId: imp.cookieStoreId });
    assert.ok(jar.includes('BAREID_SESSION'), 'the session cookie is in the container');
    assert.deepEqual(await defaultCookies(), before, 'the default container\'s cookies are untouched');
    await bobTab.reload();
    await bobTab.waitForText('Signed in as Bob Baker');
  });

  test('container: End closes its tab, removes the container with its cookies, and audits the end', async () => {
    const b = t.b;
    const imp = (await active(b)).find((a) => a.mode === 'container');
    assert.deepEqual(await b.bg((id) => globalThis.actas.end(id), imp.id), { ended: true, recorded: true });
    assert.equal(await b.bg((id) => chrome.tabs.get(id).then(() => true, () => false), imp.tabId), false, 'the tab is closed');
    const containers = await b.bg(() => globalThis.browser.contextualIdentities.query({}));
    assert.ok(!containers.some((c) => c.cookieStoreId === imp.cookieStoreId), 'the container is gone');
    const jar = await b.bg(async ({ url, storeId }) => (await globalThis.browser.cookies.getAll({ url, storeId }).catch(() => [])).length, { url: appURL(), storeId: imp.cookieStoreId });
    assert.equal(jar, 0, 'no cookies left in it');
    assert.ok((await auditRecord(t, imp.id)).endedAt, 'the trail records the end');
    // The admin's own session in the default container is still there.
    await bobTab.reload();
    await bobTab.waitForText('Signed in as Bob Baker');
    const [bobImp] = await active(b);
    await b.bg((id) => globalThis.actas.end(id), bobImp.id);
    await bobTab.close();
    await adminPage.close();
  });

  describe('private windows', () => privateWindowFlows(t));
});
