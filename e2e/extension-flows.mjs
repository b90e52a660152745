// The extension's end-to-end flows, one body for Chromium and Firefox: each takes a
// context `t` with the shared stack (t.stack), the auditor's token (t.auditorToken) and
// a browser driver (browser.mjs or firefox.mjs). The context menu is driven with the
// same function its click listener calls (globalThis.actas.onMenuClick), with the click
// info each browser gives. Tokens are never printed: on a failure, assertions say what
// leaked where, not the value.
import assert from 'node:assert/strict';
import path from 'node:path';

import { artifactsDir, test } from './browser.mjs';
import { seedUser } from './harness.mjs';
import { WAIT_MS } from './tab.mjs';

export const alice = seedUser('alice');
export const bob = seedUser('bob');
const rootAdmin = seedUser('root-admin');
export const REASON = 'SUP-4711 invoices missing';

/** A screenshot in e2e/artifacts/: NAME.png for Chromium, NAME-firefox.png for Firefox. */
export function shot(b, tab, name) {
  return tab.screenshot(path.join(artifactsDir, `${name}${b.name === 'chromium' ? '' : `-${b.name}`}.png`));
}

/** One impersonation as the auditor sees it in the trail. */
export async function auditRecord(t, id) {
  const res = await fetch(`${t.stack.workerURL}/v1/impersonations/${id}`, { headers: { authorization: `Bearer ${t.auditorToken}` } });
  assert.equal(res.status, 200);
  return res.json();
}

/**
 * Right-clicks (as the listener does) in the admin tool's tab: a link to userUuid, or
 * `{selectionText}` / `{page: true}`. Firefox passes the link's text with the click
 * (menus.OnClickData.linkText); Chromium does not.
 */
export async function menuClick(b, adminTab, userUuid, menuItemId = 'actas:client:crm', what = {}) {
  const pageUrl = await adminTab.url();
  const info = { menuItemId, pageUrl, editable: false };
  if (what.selectionText) info.selectionText = what.selectionText;
  else if (!what.page) {
    info.linkUrl = new URL(`/admin/users/${userUuid}`, pageUrl).href;
    if (b.name === 'firefox') info.linkText = await adminTab.evaluate((href) => document.querySelector(`a[href="${new URL(href).pathname}"]`)?.textContent ?? '', info.linkUrl);
  }
  return b.bg(async (info) => {
    // The tab by its address (Firefox's url filter takes no port, so it is compared here).
    const tab = (await chrome.tabs.query({})).find((t) => t.url === info.pageUrl);
    if (!tab) throw new Error(`no tab shows ${info.pageUrl}`);
    return globalThis.actas.onMenuClick(info, tab);
  }, info);
}

export const active = (b) => b.bg(async () => Object.values((await chrome.storage.session.get('active')).active ?? {}));
const lastNotice = (b) => b.bg(async () => (await chrome.storage.session.get('lastNotice')).lastNotice ?? null);
const clearNotice = (b) => b.bg(() => chrome.storage.session.remove('lastNotice'));

/** Fills in the options page as an admin would (fields IT locked stay as they are); the page stays open. */
export async function configure(t, b, openMode) {
  const page = await b.extensionPage('pages/options.html');
  await page.waitFor('#fields:enabled');
  for (const [sel, v] of [['#workerUrl', t.stack.workerURL], ['#issuer', `${t.stack.emulatorURL}/realms/demo`]]) await page.fill(sel, v);
  if (!(await page.evaluate(() => document.getElementById('openMode').disabled))) await page.select('#openMode', openMode);
  await page.click('button[type=submit]');
  await page.waitForText('Saved.', '#saved');
  return page;
}

export async function signIn(b) {
  const page = await b.extensionPage('pages/popup.html');
  await page.click('#sign-in');
  await page.waitFor('#actor');
  const actor = await page.text('#actor');
  await page.close();
  return actor;
}

/** The reason window for a pending request, once it has set up its fields and buttons (its last step focuses the reason). */
export async function reasonWindow(b, pendingId) {
  const win = await b.waitForPage((u) => u === `${b.origin}/pages/reason.html#${pendingId}`);
  await win.until(() => document.activeElement?.id === 'reason', undefined, 'the reason window to be ready');
  return win;
}

/**
 * Clicks the reason window's Go and resolves once the window has closed (the request
 * went through); fails at once with the window's error when it shows one instead.
 */
export async function go(win, timeout = WAIT_MS) {
  await win.click('#go'); // the submit handler empties #error first
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await win.closed(200).then(() => true, () => false)) return;
    const error = await win.text('#error').catch(() => '');
    if (error) throw new Error(`the reason window stayed open: ${error}`);
    if (Date.now() > deadline) throw new Error(`the reason window did not close within ${timeout} ms`);
  }
}

/** The banner's text in a tab, once it shows (read from the extension's isolated world). */
export async function bannerText(b, tabId) {
  let text = '';
  for (let i = 0; i < 100 && !text.includes('Acting as'); i++) {
    text = await b.bg(async (tabId) => {
      const [r] = await chrome.scripting.executeScript({ target: { tabId }, func: () => globalThis.actasBanner?.root?.textContent ?? '' });
      return r?.result ?? '';
    }, tabId).catch(() => '');
    if (!text.includes('Acting as')) await new Promise((r) => setTimeout(r, 100));
  }
  return text;
}

/** Asserts that token went once, in a POST body without Referer, and is in no URL, Referer, history, storage or profile file. */
async function assertTokenOnlyPosted(t, b, requests, tab) {
  const posts = requests.filter((r) => r.url === `${t.stack.emulatorURL}/realms/demo/impersonate`);
  assert.equal(posts.length, 1);
  assert.equal(posts[0].method, 'POST');
  assert.equal(posts[0].referer, '', 'the POST carries no Referer');
  const token = new URLSearchParams(posts[0].postData).get('token');
  assert.ok(token && token.length >= 32, 'a token was posted');
  assert.equal(requests.filter((r) => r.url.includes(token) || r.referer.includes(token)).length, 0, 'no request URL or Referer holds the token');
  const history = await b.historyUrls(tab); // Firefox: null, its history is in the profile's files below
  if (history) {
    assert.ok(history.length > 0);
    assert.ok(!history.some((u) => u.includes(token)), 'no history entry holds the token');
  }
  assert.ok(!(await b.storageDump()).includes(token), 'no storage area holds the token');
  assert.ok(!(await b.profileContains(token)), 'no file in the profile holds the token');
}

/** Right-click, give a reason, pick the open mode, go; resolves once the reason window closed. */
export async function impersonateVia(b, fromTab, userUuid, mode) {
  const started = await menuClick(b, fromTab, userUuid);
  assert.equal(started.outcome, 'reason');
  const win = await reasonWindow(b, started.requestId);
  await win.fill('#reason', REASON);
  await win.select('#mode', mode);
  await go(win);
}

/** The main flows, for a browser with extension/ loaded unpacked. t.b is the driver. */
export function mainFlows(t) {
  let adminPage;

  test('options: point it at the Worker and the issuer', async () => {
    const page = await configure(t, t.b, 'tab');
    assert.equal(await page.text('#origin'), t.b.origin);
    assert.match(await page.text('#redirect'), t.b.name === 'firefox' ? /^https:\/\/[0-9a-f]+\.extensions\.allizom\.org\/oidc$/ : /\.chromiumapp\.org\/oidc$/);
    if (t.b.name === 'chromium') await shot(t.b, page, 'options');
    await page.close();
  });

  test('options: a Worker URL actas cannot use is refused with an error, and nothing is saved', async () => {
    const page = await t.b.extensionPage('pages/options.html');
    await page.waitFor('#fields:enabled');
    await page.fill('#workerUrl', 'ftp://actas.example');
    await page.click('button[type=submit]');
    await page.waitFor('#error:not(:empty)');
    assert.equal(await page.text('#saved'), '');
    assert.equal(await t.b.bg(async () => (await chrome.storage.sync.get('workerUrl')).workerUrl), t.stack.workerURL);
    await page.close();
  });

  test('sign in from the popup (Authorization Code + PKCE through launchWebAuthFlow)', async () => {
    assert.equal(await signIn(t.b), 'ada@example.com');
    const menus = await t.b.bg(async () => (await chrome.storage.session.get('me')).me.clients);
    assert.deepEqual(menus.map((c) => c.clientId), ['crm', 'wiki']);
  });

  test('right-click a user, give the reason, land in the app as them; the token is nowhere', async () => {
    const b = t.b;
    adminPage = await b.newTab(`${t.stack.emulatorURL}/admin`);
    const requestsBefore = b.requests.length;
    const started = await menuClick(b, adminPage, alice.uuid);
    assert.equal(started.outcome, 'reason');

    const win = await reasonWindow(b, started.requestId);
    await win.waitForText(alice.uuid, '#user');
    // The name as the admin tool shows it (Firefox: the click's link text; Chromium: read from the page).
    assert.equal(await win.text('#user-label'), 'Alice Archer');
    assert.match(await win.text('#user-label-source'), /as 127\.0\.0\.1:\d+ names them/);
    assert.equal(await win.value('#client'), 'crm');
    // The first tab comes with a warning about the admin's own Bare.ID session.
    assert.equal(await win.value('#mode'), 'tab');
    await win.waitForText('replaces yours', '#tab-warning');
    await win.select('#mode', 'incognito');
    assert.equal(await win.visible('#tab-warning'), false, 'no warning for a private window');
    await win.select('#mode', 'tab');
    await win.fill('#reason', REASON);
    await win.size(460, 560); // the window's own size
    await shot(b, win, 'reason');
    await win.click('#go');
    const app = await b.waitForPage((u) => u === `${t.stack.emulatorURL}/apps/crm/`);
    await app.waitForText('Signed in as Alice Archer');

    // The session cookie is in this profile's cookie store.
    const cookies = await b.cookies(t.stack.emulatorURL);
    assert.ok(cookies.some((c) => c.name === 'BAREID_SESSION'), 'BAREID_SESSION cookie');
    await assertTokenOnlyPosted(t, b, b.requests.slice(requestsBefore), app);

    // The audit row names the signed-in admin.
    const [imp] = await active(b);
    const rec = await auditRecord(t, imp.id);
    assert.equal(rec.actor, 'ada@example.com');
    assert.equal(rec.actorKind, 'oidc');
    assert.equal(rec.userUuid, alice.uuid);
    assert.equal(rec.reason, REASON);
    assert.equal(rec.outcome, 'issued');
  });

  test('the banner shows in the app; End signs the session out and audits the end', async () => {
    const b = t.b;
    const [imp] = await active(b);
    const app = await b.waitForPage((u) => u === `${t.stack.emulatorURL}/apps/crm/`);
    const text = await bannerText(b, imp.tabId);
    assert.match(text, new RegExp(`Acting as Alice Archer \\(${alice.uuid}\\) in Customer CRM`));
    assert.match(text, /SUP-4711 invoices missing/);
    assert.match(text, /\d+:\d\d left/);
    await shot(b, app, 'banner');

    // A real click on End, inside the closed shadow root.
    const box = await b.bg(async (tabId) => {
      const [r] = await chrome.scripting.executeScript({
        target: { tabId },
        func: () => {
          const e = globalThis.actasBanner.root.querySelector('button.end').getBoundingClientRect();
          return { x: e.x + e.width / 2, y: e.y + e.height / 2 };
        },
      });
      return r.result;
    }, imp.tabId);
    await app.mouseClick(box.x, box.y);
    await app.waitForURL(/\/protocol\/openid-connect\/logout/);
    await app.goto(`${t.stack.emulatorURL}/apps/crm/`);
    await app.waitForText('Not signed in');
    assert.ok((await auditRecord(t, imp.id)).endedAt, 'the trail records the end');
    assert.deepEqual(await active(b), []);
    await app.close();
  });

  test('a selection and a page address name the user too', async () => {
    const b = t.b;
    const bySelection = await menuClick(b, adminPage, null, 'actas:client:crm', { selectionText: `user ${bob.uuid} (Bob)` });
    assert.equal(bySelection.outcome, 'reason');
    const w1 = await reasonWindow(b, bySelection.requestId);
    await w1.waitForText(bob.uuid, '#user');
    await w1.click('#cancel');
    await w1.closed();
    const userPage = await b.newTab(`${t.stack.emulatorURL}/admin/users/${alice.uuid}`);
    const byPage = await menuClick(b, userPage, null, 'actas:client:crm', { page: true });
    assert.equal(byPage.outcome, 'reason');
    const w2 = await reasonWindow(b, byPage.requestId);
    await w2.waitForText(alice.uuid, '#user');
    assert.equal(await w2.text('#user-label'), '', 'no link, no name from the page');
    await w2.click('#cancel');
    await w2.closed();
    await userPage.close();
  });

  test('the popup shows the signed-in admin and the last impersonations', async () => {
    const page = await t.b.extensionPage('pages/popup.html');
    await page.waitFor('#recent table');
    assert.match(await page.text('#recent'), /crm/);
    await page.close();
  });

  test('cancel in the reason window mints nothing', async () => {
    const b = t.b;
    const before = await t.stack.emulatorStats();
    const started = await menuClick(b, adminPage, alice.uuid);
    const win = await reasonWindow(b, started.requestId);
    assert.equal(await win.visible('#tab-warning'), false, 'the tab warning is shown once');
    await win.click('#cancel');
    await win.closed();
    assert.equal((await t.stack.emulatorStats()).mintRequests, before.mintRequests);
    assert.deepEqual(await b.bg(async () => (await chrome.storage.session.get('pending')).pending), {});
  });

  /** Right-click, give a reason, submit; resolves with the reason window's error text. */
  async function submitExpectingError(userUuid, mode = 'tab') {
    const b = t.b;
    await clearNotice(b);
    const started = await menuClick(b, adminPage, userUuid);
    assert.equal(started.outcome, 'reason');
    const win = await reasonWindow(b, started.requestId);
    await win.fill('#reason', REASON);
    await win.select('#mode', mode);
    await win.click('#go');
    await win.waitFor('#error:not(:empty)');
    const text = await win.text('#error');
    await win.click('#cancel');
    await win.closed();
    return text;
  }

  test('a policy denial (403) is a readable notification', async () => {
    const text = await submitExpectingError(rootAdmin.uuid);
    const n = await lastNotice(t.b);
    assert.equal(n.kind, 'user-not-allowed');
    assert.equal(n.title, 'This user cannot be impersonated');
    assert.match(n.message, /request /);
    assert.equal(text, n.message);
  });

  test('no UUID: a notification saying where it looked', async () => {
    const b = t.b;
    await clearNotice(b);
    const res = await b.bg(async (pageUrl) => {
      const tab = (await chrome.tabs.query({})).find((t) => t.url === pageUrl);
      return globalThis.actas.onMenuClick({ menuItemId: 'actas:client:crm', linkUrl: 'https://admin.example/users/42', pageUrl }, tab);
    }, await adminPage.url());
    assert.equal(res.outcome, 'no-uuid');
    const n = await lastNotice(b);
    assert.equal(n.kind, 'no-uuid');
    assert.match(n.message, /link, page/);
  });

  test('minted but not opened (the URL fails the check): the trail shows it ended at once', async () => {
    const b = t.b;
    const saved = await b.bg(async () => (await chrome.storage.sync.get('issuer')).issuer);
    // Another issuer host: the emulator's impersonation URL is no longer an allowed host.
    await b.bg(async (issuer) => chrome.storage.sync.set({ issuer }), saved.replace('127.0.0.1', 'localhost'));
    try {
      const before = await t.stack.emulatorStats();
      const text = await submitExpectingError(alice.uuid);
      assert.match(text, /not an allowed Bare\.ID host/);
      assert.equal((await t.stack.emulatorStats()).mintRequests, before.mintRequests + 1);
    } finally {
      await b.bg(async (issuer) => chrome.storage.sync.set({ issuer }), saved);
    }
    const res = await fetch(`${t.stack.workerURL}/v1/impersonations?limit=1`, { headers: { authorization: `Bearer ${t.auditorToken}` } });
    const [last] = (await res.json()).items;
    assert.equal(last.outcome, 'issued');
    assert.equal(last.userUuid, alice.uuid);
    assert.ok(last.endedAt, 'ended right after it was minted');
    assert.deepEqual(await active(b), [], 'nothing is tracked');
  });

  test('Worker down: a notification naming the Worker', async () => {
    const b = t.b;
    const saved = await b.bg(async () => (await chrome.storage.sync.get('workerUrl')).workerUrl);
    await b.bg(async () => chrome.storage.sync.set({ workerUrl: 'http://127.0.0.1:9' }));
    try {
      await submitExpectingError(alice.uuid);
      const n = await lastNotice(b);
      assert.equal(n.kind, 'worker-unreachable');
      assert.match(n.message, /127\.0\.0\.1:9/);
    } finally {
      await b.bg(async (w) => chrome.storage.sync.set({ workerUrl: w }), saved);
    }
  });

  test('private windows not allowed: a readable error, and nothing is minted', async () => {
    const b = t.b;
    const before = await t.stack.emulatorStats();
    const text = await submitExpectingError(alice.uuid, 'incognito');
    const n = await lastNotice(b);
    assert.equal(n.kind, 'incognito-not-allowed');
    assert.match(n.message, /Allow in Incognito/);
    assert.equal(text, n.message);
    assert.equal((await t.stack.emulatorStats()).mintRequests, before.mintRequests);
    assert.equal(await b.bg(async () => (await chrome.windows.getAll()).filter((w) => w.incognito).length), 0);
  });

  test('expired sign-in: a notification, and no window opens', async () => {
    const b = t.b;
    // The refresh tokens die with the emulator's sessions; the access token is aged.
    await t.stack.emulatorReset();
    await t.stack.emulator('PUT', '/_control/login', { autoLogin: 'ada' });
    await b.bg(async () => {
      const { auth } = await chrome.storage.session.get('auth');
      await chrome.storage.session.set({ auth: { ...auth, expiresAt: Date.now() - 1000 } });
    });
    await clearNotice(b);
    const res = await menuClick(b, adminPage, alice.uuid);
    assert.equal(res.outcome, 'error');
    assert.equal(res.kind, 'signin-expired');
    const n = await lastNotice(b);
    assert.equal(n.kind, 'signin-expired');
    assert.match(n.message, /sign in again/);
    assert.equal(await b.bg(async () => Boolean((await chrome.storage.session.get('auth')).auth)), false);
  });
}

/**
 * Private windows, for a browser where actas is allowed in them (t.b), configured
 * and signed in by the first test.
 */
export function privateWindowFlows(t) {
  let adminPage;
  let bobTab; // the normal-profile tab impersonating Bob
  const appURL = () => `${t.stack.emulatorURL}/apps/crm/`;
  const normalCookies = async () => (await t.b.cookies(t.stack.emulatorURL)).map((c) => `${c.name}=${c.value}`).sort();
  const privateImp = async () => (await active(t.b)).find((a) => a.mode === 'incognito');

  test('the options page says private windows are allowed', async () => {
    const page = await configure(t, t.b, 'incognito');
    assert.match(await page.text('#incognito'), /^allowed/);
    await page.close();
    const signedIn = await t.b.bg(async () => Boolean((await chrome.storage.session.get('auth')).auth));
    if (!signedIn) assert.equal(await signIn(t.b), 'ada@example.com');
  });

  test('a private window lands in the app as the user and leaves this profile\'s cookies alone', async () => {
    const b = t.b;
    adminPage = await b.newTab(`${t.stack.emulatorURL}/admin`);
    // This profile first holds a session of its own: Bob, opened in a tab.
    await impersonateVia(b, adminPage, bob.uuid, 'tab');
    bobTab = await b.waitForPage((u) => u === appURL());
    await bobTab.waitForText('Signed in as Bob Baker');
    const before = await normalCookies();
    assert.ok(before.some((c) => c.startsWith('BAREID_SESSION=')), 'the profile holds a Bare.ID session');

    const requestsBefore = b.requests.length;
    await impersonateVia(b, adminPage, alice.uuid, 'incognito');
    const imp = await privateImp();
    assert.equal(await b.bg(async (windowId) => (await chrome.windows.get(windowId)).incognito, imp.windowId), true, 'opened in a private window');
    // Bob's tab shows the same URL: the private window's page is the other one.
    const app = await b.waitForPage((u) => u === appURL(), 15_000, (p) => p !== bobTab);
    await app.waitForText('Signed in as Alice Archer');

    // This profile's cookies are exactly what they were, and its tab is still Bob's.
    assert.deepEqual(await normalCookies(), before);
    await bobTab.reload();
    await bobTab.waitForText('Signed in as Bob Baker');

    // The token went once, in a POST body without Referer, from the Worker's blank page.
    const mine = b.requests.slice(requestsBefore);
    await assertTokenOnlyPosted(t, b, mine, app);
    // Chromium: the window's history; Firefox: the request log (the window's first load
    // happens before playwright sees the window, and Firefox keeps history from WebDriver).
    const open = `${t.stack.workerURL}/open`;
    const history = await b.historyUrls(app);
    const opened = history ? history.includes(open) : mine.some((r) => r.method === 'GET' && r.url === open);
    assert.ok(opened, 'the private window opened the Worker\'s page');

    const rec = await auditRecord(t, imp.id);
    assert.equal(rec.actor, 'ada@example.com');
    assert.equal(rec.userUuid, alice.uuid);
  });

  test('the popup shows both open impersonations, each with End', async () => {
    const page = await t.b.extensionPage('pages/popup.html');
    await page.waitFor('#recent table');
    await page.until(() => document.querySelectorAll('#active .card').length >= 2, undefined, 'two cards');
    assert.equal(await page.count('#active .card'), 2);
    const text = await page.text('#active');
    assert.match(text, /Customer CRM as Alice Archer c55d7ef7/);
    assert.match(text, /Customer CRM as Bob Baker/);
    assert.match(text, /private window/);
    const ends = await page.evaluate(() => [...document.querySelectorAll('#active button.danger')].filter((e) => e.textContent === 'End').length);
    assert.equal(ends, 2);
    // The banner can reach the emulator's apps already: nothing to grant.
    assert.ok(!(await page.text('body')).includes('Show the banner there'));
    await page.size(430, 660); // about what the browser gives the popup
    if (t.b.name === 'chromium') await shot(t.b, page, 'popup');
    await page.close();
  });

  test('the banner shows in the private window; End closes it and audits the end', async () => {
    const b = t.b;
    const imp = await privateImp();
    assert.match(await bannerText(b, imp.tabId), new RegExp(`Acting as Alice Archer \\(${alice.uuid}\\) in Customer CRM`));
    assert.deepEqual(await b.bg((id) => globalThis.actas.end(id), imp.id), { ended: true, recorded: true });
    assert.equal(await b.bg(async () => (await chrome.windows.getAll()).filter((w) => w.incognito).length), 0);
    assert.ok((await auditRecord(t, imp.id)).endedAt, 'the trail records the end');
  });

  test('right-clicked inside a private window, a tab opens in that window', async () => {
    const b = t.b;
    const before = await normalCookies();
    const adminURL = `${t.stack.emulatorURL}/admin?in=private`;
    const adminWindow = await b.bg(async (url) => (await chrome.windows.create({ url, incognito: true })).id, adminURL);
    const privateAdmin = await b.waitForPage((u) => u === adminURL);
    await privateAdmin.waitForText('Alice Archer');
    await impersonateVia(b, privateAdmin, alice.uuid, 'tab');
    const imp = (await active(b)).find((a) => a.userUuid === alice.uuid);
    assert.equal(imp.mode, 'tab');
    assert.equal(imp.windowId, adminWindow, 'the tab is in the admin\'s private window');
    assert.equal((await b.bg((id) => chrome.tabs.get(id), imp.tabId)).incognito, true);
    const app = await b.waitForPage((u) => u === appURL(), 15_000, (p) => p !== bobTab);
    await app.waitForText('Signed in as Alice Archer');
    assert.deepEqual(await normalCookies(), before, 'this profile\'s cookies are untouched');

    // End signs the tab out at Bare.ID; the admin's private window stays open.
    assert.deepEqual(await b.bg((id) => globalThis.actas.end(id), imp.id), { ended: true, recorded: true });
    await app.waitForURL(/\/protocol\/openid-connect\/logout/);
    assert.equal(await b.bg(async (id) => (await chrome.windows.get(id)).incognito, adminWindow), true);
    await b.bg((id) => chrome.windows.remove(id), adminWindow);
  });

  test('a click that comes without its tab: the new tab counts in the cookie jar it landed in', async (ctx) => {
    const b = t.b;
    // Firefox opens the extension's page in a focused private window; Chromium moves it
    // out to a normal window, where it would rightly replace Bob's session.
    if (b.name !== 'firefox') return ctx.skip('Firefox only');
    const [bobImp] = await active(b);
    const adminURL = `${t.stack.emulatorURL}/admin?in=private&no-tab`;
    const adminWindow = await b.bg(async (url) => (await chrome.windows.create({ url, incognito: true, focused: true })).id, adminURL);
    const privateAdmin = await b.waitForPage((u) => u === adminURL);
    await privateAdmin.waitForText('Alice Archer');
    await clearNotice(b);
    const info = { menuItemId: 'actas:client:crm', pageUrl: adminURL, linkUrl: new URL(`/admin/users/${alice.uuid}`, adminURL).href, linkText: 'Alice Archer', editable: false };
    const started = await b.bg((info) => globalThis.actas.onMenuClick(info, undefined), info);
    assert.equal(started.outcome, 'reason');
    const win = await reasonWindow(b, started.requestId);
    // Without the tab there is no page to read the name from: it comes with the click.
    assert.equal(await win.text('#user-label'), 'Alice Archer');
    await win.fill('#reason', REASON);
    await win.select('#mode', 'tab');
    await go(win);
    const imp = (await active(b)).find((a) => a.userUuid === alice.uuid);
    const tab = await b.bg((id) => chrome.tabs.get(id), imp.tabId);
    assert.equal(tab.incognito, true, 'the tab landed in the focused private window');
    assert.equal(imp.incognito, true, 'and is tracked as a private one');
    assert.deepEqual((await active(b)).map((a) => a.id).sort(), [bobImp.id, imp.id].sort(), 'Bob\'s impersonation in this profile is still open');
    assert.notEqual((await lastNotice(b))?.kind, 'replaced');
    assert.deepEqual(await b.bg((id) => globalThis.actas.end(id), imp.id), { ended: true, recorded: true });
    await b.bg((id) => chrome.windows.remove(id), adminWindow);
  });

  test('signing out of actas ends the open impersonations first, recorded', async () => {
    const b = t.b;
    const open = await active(b);
    assert.equal(open.length, 1, 'Bob\'s tab is still open');
    const popup = await b.extensionPage('pages/popup.html');
    await popup.click('#sign-out');
    await popup.waitFor('#sign-in');
    await popup.close();
    assert.ok((await auditRecord(t, open[0].id)).endedAt, 'the trail records the end');
    assert.deepEqual(await active(b), []);
    await bobTab.waitForURL(/\/protocol\/openid-connect\/logout/);
    await adminPage.close();
  });
}
