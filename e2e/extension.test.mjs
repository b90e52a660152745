// The browser extension end to end: Debian's Chromium (headless) with extension/ loaded
// unpacked, against the emulator and the real Worker under wrangler dev. The context
// menu is driven through the extension's service worker with the same function its
// click listener calls (globalThis.actas.onMenuClick). Tokens are never printed: on a
// failure, assertions say what leaked where, not the value.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { EXTENSION_ORIGIN, artifactsDir, launchExtension } from './browser.mjs';
import { seedUser, startStack } from './harness.mjs';

const alice = seedUser('alice');
const bob = seedUser('bob');
const rootAdmin = seedUser('root-admin');
const REASON = 'SUP-4711 invoices missing';

let stack;
let browser;
let auditorToken;

before(async () => {
  stack = await startStack({
    vars: { ACTAS_ALLOWED_ORIGINS: EXTENSION_ORIGIN, ACTAS_REASON_REQUIRED: 'true', ACTAS_REASON_MIN_LENGTH: '8' },
  });
  await stack.emulator('PUT', '/_control/login', { autoLogin: 'ada' });
  auditorToken = (await stack.emulator('POST', '/_control/tokens', { username: 'grace' })).access_token;
  await mkdir(artifactsDir, { recursive: true });
  browser = await launchExtension();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

const shot = (page, name) => page.screenshot({ path: path.join(artifactsDir, `${name}.png`) });

/** One impersonation as the auditor sees it in the trail. */
async function auditRecord(id) {
  const res = await fetch(`${stack.workerURL}/v1/impersonations/${id}`, { headers: { authorization: `Bearer ${auditorToken}` } });
  assert.equal(res.status, 200);
  return res.json();
}

/** Right-clicks (as the listener does) a link to userUuid in the admin tool's tab. */
async function menuClick(adminPage, userUuid, menuItemId = 'actas:client:crm', b = browser) {
  const linkUrl = new URL(`/admin/users/${userUuid}`, stack.emulatorURL).href;
  return b.sw.evaluate(
    async ({ menuItemId, linkUrl, pageUrl }) => {
      const [tab] = await chrome.tabs.query({ url: pageUrl });
      return globalThis.actas.onMenuClick({ menuItemId, linkUrl, pageUrl, editable: false }, tab);
    },
    { menuItemId, linkUrl, pageUrl: adminPage.url() },
  );
}

async function lastNotice() {
  return browser.sw.evaluate(async () => (await chrome.storage.session.get('lastNotice')).lastNotice ?? null);
}

async function clearNotice() {
  await browser.sw.evaluate(() => chrome.storage.session.remove('lastNotice'));
}

/** Fills in the options page as an admin would; resolves with the page, still open. */
async function configure(b, openMode) {
  const page = await b.extensionPage('pages/options.html');
  await page.locator('#fields:enabled').waitFor();
  await page.fill('#workerUrl', stack.workerURL);
  await page.fill('#issuer', `${stack.emulatorURL}/realms/demo`);
  await page.selectOption('#openMode', openMode);
  await page.click('button[type=submit]');
  await page.getByText('Saved.').waitFor();
  return page;
}

async function reasonWindow(pendingId, b = browser) {
  return b.waitForPage((u) => u === `${EXTENSION_ORIGIN}/pages/reason.html#${pendingId}`);
}

describe('the extension', () => {
  let adminPage;

  test('options: point it at the Worker and the issuer', async () => {
    const page = await configure(browser, 'tab');
    assert.equal(await page.textContent('#origin'), EXTENSION_ORIGIN);
    await shot(page, 'options');
    await page.close();
  });

  test('sign in from the popup (Authorization Code + PKCE through launchWebAuthFlow)', async () => {
    const page = await browser.extensionPage('pages/popup.html');
    await page.click('#sign-in');
    await page.locator('#actor').waitFor();
    assert.equal(await page.textContent('#actor'), 'ada@example.com');
    await page.close();
    const menus = await browser.sw.evaluate(async () => (await chrome.storage.session.get('me')).me.clients);
    assert.deepEqual(menus.map((c) => c.clientId), ['crm', 'wiki']);
  });

  test('right-click a user, give the reason, land in the app as them; the token is nowhere', async () => {
    adminPage = await browser.ctx.newPage();
    await adminPage.goto(`${stack.emulatorURL}/admin`);
    const started = await menuClick(adminPage, alice.uuid);
    assert.equal(started.outcome, 'reason');

    const win = await reasonWindow(started.requestId);
    await win.locator('#user').getByText(alice.uuid).waitFor();
    // The name as the admin tool shows it, read from the page next to the UUID.
    assert.equal(await win.textContent('#user-label'), 'Alice Archer');
    assert.match(await win.textContent('#user-label-source'), /as 127\.0\.0\.1:\d+ names them/);
    assert.equal(await win.inputValue('#client'), 'crm');
    // The first tab comes with a warning about the admin's own Bare.ID session.
    assert.equal(await win.inputValue('#mode'), 'tab');
    await win.locator('#tab-warning').getByText('replaces yours').waitFor();
    await win.selectOption('#mode', 'incognito');
    assert.equal(await win.isVisible('#tab-warning'), false, 'no warning for a private window');
    await win.selectOption('#mode', 'tab');
    await win.fill('#reason', REASON);
    await win.setViewportSize({ width: 460, height: 560 }); // the window's own size
    await shot(win, 'reason');
    const landing = browser.waitForPage((u) => u.startsWith(`${EXTENSION_ORIGIN}/pages/open.html`));
    await win.click('#go');
    const app = await landing;
    await app.waitForURL(`${stack.emulatorURL}/apps/crm/`);
    await app.getByText('Signed in as Alice Archer').waitFor();

    // The session cookie is in this profile's cookie store.
    const cookies = await browser.ctx.cookies(stack.emulatorURL);
    assert.ok(cookies.some((c) => c.name === 'BAREID_SESSION'), 'BAREID_SESSION cookie');

    // The token went exactly once, in a POST body without Referer, and nowhere else.
    const posts = browser.requests.filter((r) => r.url === `${stack.emulatorURL}/realms/demo/impersonate`);
    assert.equal(posts.length, 1);
    assert.equal(posts[0].method, 'POST');
    assert.equal(posts[0].referer, '', 'the POST carries no Referer');
    const token = new URLSearchParams(posts[0].postData).get('token');
    assert.ok(token && token.length >= 32, 'a token was posted');
    const inUrl = browser.requests.filter((r) => r.url.includes(token) || r.referer.includes(token));
    assert.equal(inUrl.length, 0, 'no request URL or Referer holds the token');
    const cdp = await browser.ctx.newCDPSession(app);
    const { entries } = await cdp.send('Page.getNavigationHistory');
    assert.ok(entries.length > 0);
    assert.ok(!entries.some((e) => e.url.includes(token)), 'no history entry holds the token');
    assert.ok(!(await browser.storageDump()).includes(token), 'no storage area holds the token');
    assert.ok(!(await browser.profileContains(token)), 'no file in the profile holds the token');

    // The audit row names the signed-in admin.
    const imp = (await browser.sw.evaluate(async () => Object.values((await chrome.storage.session.get('active')).active)))[0];
    const rec = await auditRecord(imp.id);
    assert.equal(rec.actor, 'ada@example.com');
    assert.equal(rec.actorKind, 'oidc');
    assert.equal(rec.userUuid, alice.uuid);
    assert.equal(rec.reason, REASON);
    assert.equal(rec.outcome, 'issued');
  });

  test('the banner shows in the app; End signs the session out and audits the end', async () => {
    const app = browser.ctx.pages().find((p) => p.url() === `${stack.emulatorURL}/apps/crm/`);
    const tabId = await browser.sw.evaluate(async (url) => (await chrome.tabs.query({ url }))[0].id, app.url());
    const bannerText = () =>
      browser.sw.evaluate(async (tabId) => {
        const [r] = await chrome.scripting.executeScript({ target: { tabId }, func: () => globalThis.actasBanner?.root?.textContent ?? '' });
        return r.result;
      }, tabId);
    let text = '';
    for (let i = 0; i < 50 && !text.includes('Acting as'); i++) {
      text = await bannerText();
      if (!text.includes('Acting as')) await app.waitForTimeout(100);
    }
    assert.match(text, new RegExp(`Acting as Alice Archer \\(${alice.uuid}\\) in Customer CRM`));
    assert.match(text, /SUP-4711 invoices missing/);
    assert.match(text, /\d+:\d\d left/);
    await shot(app, 'banner');

    const imp = (await browser.sw.evaluate(async () => Object.values((await chrome.storage.session.get('active')).active)))[0];
    // A real click on End, inside the closed shadow root.
    const box = await browser.sw.evaluate(async (tabId) => {
      const [r] = await chrome.scripting.executeScript({
        target: { tabId },
        func: () => {
          const b = globalThis.actasBanner.root.querySelector('button.end').getBoundingClientRect();
          return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
        },
      });
      return r.result;
    }, tabId);
    await app.mouse.click(box.x, box.y);
    await app.waitForURL(/\/protocol\/openid-connect\/logout/);
    await app.goto(`${stack.emulatorURL}/apps/crm/`);
    await app.getByText('Not signed in').waitFor();
    const rec = await auditRecord(imp.id);
    assert.ok(rec.endedAt, 'the trail records the end');
    const active = await browser.sw.evaluate(async () => (await chrome.storage.session.get('active')).active);
    assert.deepEqual(active, {});
  });

  test('the popup shows the signed-in admin and the last impersonations', async () => {
    const page = await browser.extensionPage('pages/popup.html');
    await page.locator('#recent table').waitFor();
    assert.match(await page.textContent('#recent'), /crm/);
    await page.close();
  });

  test('cancel in the reason window mints nothing', async () => {
    const before = await stack.emulatorStats();
    const started = await menuClick(adminPage, alice.uuid);
    const win = await reasonWindow(started.requestId);
    await win.locator('#rule:not(:empty)').waitFor(); // set after the warning was decided
    assert.equal(await win.isVisible('#tab-warning'), false, 'the tab warning is shown once');
    const closed = win.waitForEvent('close');
    await win.click('#cancel');
    await closed;
    assert.equal((await stack.emulatorStats()).mintRequests, before.mintRequests);
    const pending = await browser.sw.evaluate(async () => (await chrome.storage.session.get('pending')).pending);
    assert.deepEqual(pending, {});
  });

  /** Right-click, give a reason, submit; resolves with the reason window's error text. */
  async function submitExpectingError(userUuid, mode = 'tab') {
    await clearNotice();
    const started = await menuClick(adminPage, userUuid);
    assert.equal(started.outcome, 'reason');
    const win = await reasonWindow(started.requestId);
    await win.locator('#reason:enabled').waitFor();
    await win.fill('#reason', REASON);
    await win.selectOption('#mode', mode);
    await win.click('#go');
    await win.locator('#error:not(:empty)').waitFor();
    const text = await win.textContent('#error');
    await win.click('#cancel');
    return text;
  }

  test('a policy denial (403) is a readable notification', async () => {
    const text = await submitExpectingError(rootAdmin.uuid);
    const n = await lastNotice();
    assert.equal(n.kind, 'user-not-allowed');
    assert.equal(n.title, 'This user cannot be impersonated');
    assert.match(n.message, /request /);
    assert.equal(text, n.message);
  });

  test('no UUID: a notification saying where it looked', async () => {
    await clearNotice();
    const res = await browser.sw.evaluate(async (pageUrl) => {
      const [tab] = await chrome.tabs.query({ url: pageUrl });
      return globalThis.actas.onMenuClick({ menuItemId: 'actas:client:crm', linkUrl: 'https://admin.example/users/42', pageUrl }, tab);
    }, adminPage.url());
    assert.equal(res.outcome, 'no-uuid');
    const n = await lastNotice();
    assert.equal(n.kind, 'no-uuid');
    assert.match(n.message, /link, page/);
  });

  test('minted but not opened (the URL fails the check): the trail shows it ended at once', async () => {
    const saved = await browser.sw.evaluate(async () => (await chrome.storage.sync.get('issuer')).issuer);
    // Another issuer host: the emulator's impersonation URL is no longer an allowed host.
    await browser.sw.evaluate(async (issuer) => chrome.storage.sync.set({ issuer }), saved.replace('127.0.0.1', 'localhost'));
    try {
      const before = await stack.emulatorStats();
      const text = await submitExpectingError(alice.uuid);
      assert.match(text, /not an allowed Bare\.ID host/);
      assert.equal((await stack.emulatorStats()).mintRequests, before.mintRequests + 1);
    } finally {
      await browser.sw.evaluate(async (issuer) => chrome.storage.sync.set({ issuer }), saved);
    }
    const res = await fetch(`${stack.workerURL}/v1/impersonations?limit=1`, { headers: { authorization: `Bearer ${auditorToken}` } });
    const [last] = (await res.json()).items;
    assert.equal(last.outcome, 'issued');
    assert.equal(last.userUuid, alice.uuid);
    assert.ok(last.endedAt, 'ended right after it was minted');
    const active = await browser.sw.evaluate(async () => (await chrome.storage.session.get('active')).active ?? {});
    assert.deepEqual(active, {}, 'nothing is tracked');
  });

  test('Worker down: a notification naming the Worker', async () => {
    const saved = await browser.sw.evaluate(async () => (await chrome.storage.sync.get('workerUrl')).workerUrl);
    await browser.sw.evaluate(async () => chrome.storage.sync.set({ workerUrl: 'http://127.0.0.1:9' }));
    try {
      await submitExpectingError(alice.uuid);
      const n = await lastNotice();
      assert.equal(n.kind, 'worker-unreachable');
      assert.match(n.message, /127\.0\.0\.1:9/);
    } finally {
      await browser.sw.evaluate(async (w) => chrome.storage.sync.set({ workerUrl: w }), saved);
    }
  });

  test('private windows not allowed: a readable error, and nothing is minted', async () => {
    const before = await stack.emulatorStats();
    const text = await submitExpectingError(alice.uuid, 'incognito');
    const n = await lastNotice();
    assert.equal(n.kind, 'incognito-not-allowed');
    assert.match(n.message, /Allow in Incognito/);
    assert.equal(text, n.message);
    assert.equal((await stack.emulatorStats()).mintRequests, before.mintRequests);
    const windows = await browser.sw.evaluate(async () => (await chrome.windows.getAll()).filter((w) => w.incognito).length);
    assert.equal(windows, 0);
  });

  test('expired sign-in: a notification, and no window opens', async () => {
    // The refresh tokens die with the emulator's sessions; the access token is aged.
    await stack.emulatorReset();
    await stack.emulator('PUT', '/_control/login', { autoLogin: 'ada' });
    await browser.sw.evaluate(async () => {
      const { auth } = await chrome.storage.session.get('auth');
      await chrome.storage.session.set({ auth: { ...auth, expiresAt: Date.now() - 1000 } });
    });
    await clearNotice();
    const res = await menuClick(adminPage, alice.uuid);
    assert.equal(res.outcome, 'error');
    assert.equal(res.kind, 'signin-expired');
    const n = await lastNotice();
    assert.equal(n.kind, 'signin-expired');
    assert.match(n.message, /sign in again/);
    assert.equal(await browser.sw.evaluate(async () => Boolean((await chrome.storage.session.get('auth')).auth)), false);
  });
});

describe('private windows', () => {
  let priv; // a second browser, with actas allowed in incognito
  let adminPage;
  let bobTabRef; // the normal-profile tab impersonating Bob

  before(async () => {
    await stack.emulatorReset();
    await stack.emulator('PUT', '/_control/login', { autoLogin: 'ada' });
    priv = await launchExtension({ incognito: true });
  });
  after(async () => {
    await priv?.close();
  });

  /** Right-click a user, give the reason, pick the open mode, go. */
  async function impersonateVia(userUuid, mode) {
    return impersonateViaPage(adminPage, userUuid, mode);
  }

  async function impersonateViaPage(fromPage, userUuid, mode) {
    const started = await menuClick(fromPage, userUuid, 'actas:client:crm', priv);
    assert.equal(started.outcome, 'reason');
    const win = await reasonWindow(started.requestId, priv);
    await win.locator('#reason:enabled').waitFor();
    await win.fill('#reason', REASON);
    await win.selectOption('#mode', mode);
    const closed = win.waitForEvent('close');
    await win.click('#go');
    await closed;
  }

  const appURL = () => `${stack.emulatorURL}/apps/crm/`;
  const normalCookies = async () => (await priv.ctx.cookies(stack.emulatorURL)).map((c) => `${c.name}=${c.value}`).sort();

  test('the options page says private windows are allowed', async () => {
    const page = await configure(priv, 'incognito');
    assert.match(await page.textContent('#incognito'), /^allowed/);
    await page.close();
    const popup = await priv.extensionPage('pages/popup.html');
    await popup.click('#sign-in');
    await popup.locator('#actor').waitFor();
    await popup.close();
  });

  test('a private window lands in the app as the user and leaves this profile\'s cookies alone', async () => {
    adminPage = await priv.ctx.newPage();
    await adminPage.goto(`${stack.emulatorURL}/admin`);
    // This profile first holds a session of its own: Bob, opened in a tab.
    await impersonateVia(bob.uuid, 'tab');
    const bobTab = await priv.waitForPage((u) => u === appURL());
    bobTabRef = bobTab;
    await bobTab.getByText('Signed in as Bob Baker').waitFor();
    const before = await normalCookies();
    assert.ok(before.some((c) => c.startsWith('BAREID_SESSION=')), 'the profile holds a Bare.ID session');

    const requestsBefore = priv.requests.length;
    await impersonateVia(alice.uuid, 'incognito');
    const imp = await priv.sw.evaluate(async () =>
      Object.values((await chrome.storage.session.get('active')).active).find((a) => a.mode === 'incognito'),
    );
    const incognito = await priv.sw.evaluate(async (windowId) => (await chrome.windows.get(windowId)).incognito, imp.windowId);
    assert.equal(incognito, true, 'opened in an incognito window');
    // Bob's tab shows the same URL: the private window's page is the other one.
    const app = await priv.waitForPage((u) => u === appURL(), 15_000, (p) => p !== bobTab);
    await app.getByText('Signed in as Alice Archer').waitFor();

    // This profile's cookies are exactly what they were, and its tab is still Bob's.
    assert.deepEqual(await normalCookies(), before);
    await bobTab.reload();
    await bobTab.getByText('Signed in as Bob Baker').waitFor();

    // The token went once, in a POST body without Referer, from the Worker's blank page.
    const mine = priv.requests.slice(requestsBefore);
    const posts = mine.filter((r) => r.url === `${stack.emulatorURL}/realms/demo/impersonate`);
    assert.equal(posts.length, 1);
    assert.equal(posts[0].method, 'POST');
    assert.equal(posts[0].referer, '');
    const token = new URLSearchParams(posts[0].postData).get('token');
    assert.ok(token && token.length >= 32, 'a token was posted');
    assert.equal(mine.filter((r) => r.url.includes(token) || r.referer.includes(token)).length, 0, 'no URL or Referer holds the token');
    const cdp = await priv.ctx.newCDPSession(app);
    const { entries } = await cdp.send('Page.getNavigationHistory');
    assert.ok(entries.some((e) => e.url === `${stack.workerURL}/open`), 'the private window opened the Worker\'s page');
    assert.ok(!entries.some((e) => e.url.includes(token)), 'no history entry holds the token');
    assert.ok(!(await priv.storageDump()).includes(token), 'no storage area holds the token');
    assert.ok(!(await priv.profileContains(token)), 'no file in the profile holds the token');

    const rec = await auditRecord(imp.id);
    assert.equal(rec.actor, 'ada@example.com');
    assert.equal(rec.userUuid, alice.uuid);
  });

  test('the popup shows both open impersonations, each with End', async () => {
    const page = await priv.extensionPage('pages/popup.html');
    await page.locator('#recent table').waitFor();
    const cards = page.locator('#active .card');
    await cards.nth(1).waitFor();
    assert.equal(await cards.count(), 2);
    const text = await page.textContent('#active');
    assert.match(text, /Customer CRM as Alice Archer c55d7ef7/);
    assert.match(text, /Customer CRM as Bob Baker/);
    assert.match(text, /private window/);
    assert.equal(await page.locator('#active button.danger', { hasText: 'End' }).count(), 2);
    // The banner can reach the emulator's apps already: nothing to grant.
    assert.equal(await page.getByText('Show the banner there').count(), 0);
    await page.setViewportSize({ width: 430, height: 660 }); // about what the browser gives the popup
    await shot(page, 'popup');
    await page.close();
  });

  test('the banner shows in the private window; End closes it and audits the end', async () => {
    const imp = await priv.sw.evaluate(async () =>
      Object.values((await chrome.storage.session.get('active')).active).find((a) => a.mode === 'incognito'),
    );
    let text = '';
    for (let i = 0; i < 50 && !text.includes('Acting as'); i++) {
      text = await priv.sw.evaluate(async (tabId) => {
        const [r] = await chrome.scripting.executeScript({ target: { tabId }, func: () => globalThis.actasBanner?.root?.textContent ?? '' });
        return r.result;
      }, imp.tabId);
      if (!text.includes('Acting as')) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(text, new RegExp(`Acting as Alice Archer \\(${alice.uuid}\\) in Customer CRM`));
    const res = await priv.sw.evaluate((id) => globalThis.actas.end(id), imp.id);
    assert.deepEqual(res, { ended: true, recorded: true });
    const windows = await priv.sw.evaluate(async () => (await chrome.windows.getAll()).filter((w) => w.incognito).length);
    assert.equal(windows, 0);
    assert.ok((await auditRecord(imp.id)).endedAt, 'the trail records the end');
  });

  test('right-clicked inside a private window, a tab opens in that window', async () => {
    const before = await normalCookies();
    const adminURL = `${stack.emulatorURL}/admin?in=private`;
    const adminWindow = await priv.sw.evaluate(async (url) => (await chrome.windows.create({ url, incognito: true })).id, adminURL);
    const privateAdmin = await priv.waitForPage((u) => u === adminURL);
    await privateAdmin.getByText('Alice Archer').first().waitFor();
    await impersonateViaPage(privateAdmin, alice.uuid, 'tab');
    const imp = await priv.sw.evaluate(
      async (uuid) => Object.values((await chrome.storage.session.get('active')).active).find((a) => a.userUuid === uuid),
      alice.uuid,
    );
    assert.equal(imp.mode, 'tab');
    assert.equal(imp.windowId, adminWindow, 'the tab is in the admin\'s private window');
    const tab = await priv.sw.evaluate((id) => chrome.tabs.get(id), imp.tabId);
    assert.equal(tab.incognito, true);
    const app = await priv.waitForPage((u) => u === appURL(), 15_000, (p) => p !== bobTabRef);
    await app.getByText('Signed in as Alice Archer').waitFor();
    assert.deepEqual(await normalCookies(), before, 'this profile\'s cookies are untouched');

    // End signs the tab out at Bare.ID; the admin's private window stays open.
    assert.deepEqual(await priv.sw.evaluate((id) => globalThis.actas.end(id), imp.id), { ended: true, recorded: true });
    await app.waitForURL(/\/protocol\/openid-connect\/logout/);
    assert.equal(await priv.sw.evaluate(async (id) => (await chrome.windows.get(id)).incognito, adminWindow), true);
    await priv.sw.evaluate((id) => chrome.windows.remove(id), adminWindow);
  });

  test('signing out of actas ends the open impersonations first, recorded', async () => {
    const open = await priv.sw.evaluate(async () => Object.values((await chrome.storage.session.get('active')).active));
    assert.equal(open.length, 1, 'Bob\'s tab is still open');
    const popup = await priv.extensionPage('pages/popup.html');
    await popup.click('#sign-out');
    await popup.locator('#sign-in').waitFor();
    await popup.close();
    assert.ok((await auditRecord(open[0].id)).endedAt, 'the trail records the end');
    assert.deepEqual(await priv.sw.evaluate(async () => (await chrome.storage.session.get('active')).active), {});
    await bobTabRef.waitForURL(/\/protocol\/openid-connect\/logout/);
  });
});
