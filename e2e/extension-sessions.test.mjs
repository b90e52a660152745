// The extension never shows one user while acting as another, end to end in Debian's
// Chromium against the emulator and the Worker: the options page refuses settings every
// later call would refuse; the popup follows what happens (End elsewhere, sign-out,
// refused sign-in, stale notices); a link naming several UUIDs is the admin's choice; an
// impersonation replaced by a later one in the same profile is ended and its banner says
// so. Tokens are never printed.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';

import { EXTENSION_ORIGIN, launchExtension, test } from './browser.mjs';
import { go, reasonWindow } from './extension-flows.mjs';
import { seedUser, startStack } from './harness.mjs';

const alice = seedUser('alice');
const bob = seedUser('bob');
const ORG = '0b5c3a1e-7d2f-4c8e-9a6b-1f2e3d4c5b6a'; // an organisation id in a link, no user

let stack;
let browser;
let auditorToken;

before(async () => {
  stack = await startStack({ vars: { ACTAS_ALLOWED_ORIGINS: EXTENSION_ORIGIN, ACTAS_REASON_REQUIRED: 'false' } });
  await stack.emulator('PUT', '/_control/login', { autoLogin: 'ada' });
  auditorToken = (await stack.emulator('POST', '/_control/tokens', { username: 'grace' })).access_token;
  browser = await launchExtension();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

const sw = (fn, arg) => browser.bg(fn, arg);
const session = (key) => sw(async (k) => (await chrome.storage.session.get(k))[k] ?? null, key);
const appURL = () => `${stack.emulatorURL}/apps/crm/`;

async function auditRecord(id) {
  const res = await fetch(`${stack.workerURL}/v1/impersonations/${id}`, { headers: { authorization: `Bearer ${auditorToken}` } });
  assert.equal(res.status, 200);
  return res.json();
}

/** Right-clicks (as the listener does) linkUrl in the admin tool's tab. */
async function menuClick(adminPage, linkUrl, menuItemId = 'actas:client:crm') {
  return sw(
    async ({ menuItemId, linkUrl, pageUrl }) => {
      const [tab] = await chrome.tabs.query({ url: pageUrl });
      return globalThis.actas.onMenuClick({ menuItemId, linkUrl, pageUrl, editable: false }, tab);
    },
    { menuItemId, linkUrl, pageUrl: await adminPage.url() },
  );
}

/** Stores the settings and signs in as `admin` through the service worker (the describes stand alone). */
async function signedIn(admin = 'ada') {
  await stack.emulator('PUT', '/_control/login', { autoLogin: admin });
  await sw(async (s) => {
    await chrome.storage.sync.set(s);
    await globalThis.actas.signIn({ interactive: false });
    await globalThis.actas.refreshProfile();
  }, { workerUrl: stack.workerURL, issuer: `${stack.emulatorURL}/realms/demo` });
}

const userLink = (uuid) => new URL(`/admin/users/${uuid}`, stack.emulatorURL).href;

/** The banner's text in a tab ('' while there is none). */
function bannerText(tabId) {
  return sw(async (tabId) => {
    const [r] = await chrome.scripting.executeScript({ target: { tabId }, func: () => globalThis.actasBanner?.root?.textContent ?? '' });
    return r.result;
  }, tabId);
}

async function waitForBanner(tabId, pred) {
  let text = '';
  for (let i = 0; i < 100; i++) {
    text = await bannerText(tabId).catch(() => '');
    if (pred(text)) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the banner never matched; last seen: ${text}`);
}

/** A new page of the app that is none of `known`. */
function newAppPage(known) {
  return browser.waitForPage((u) => u === appURL(), 15_000, (p) => !known.includes(p));
}

async function options() {
  const page = await browser.extensionPage('pages/options.html');
  await page.waitFor('#fields:enabled');
  return page;
}

/** Fills the fields given, saves, and resolves with the error text ('' once saved). */
async function save(page, fields) {
  for (const [k, v] of Object.entries(fields)) await page.fill(`#${k}`, v);
  await page.click('button[type=submit]'); // the submit handler empties #error and #saved first
  await page.until(() => document.getElementById('error').textContent !== '' || document.getElementById('saved').textContent === 'Saved.', undefined, 'an error or "Saved."');
  return page.text('#error');
}

describe('the options page checks what it saves', () => {
  let page;
  const good = () => ({ workerUrl: stack.workerURL, issuer: `${stack.emulatorURL}/realms/demo`, clientId: 'actas-extension' });
  const stored = () => sw(() => chrome.storage.sync.get(null));

  before(async () => {
    page = await options();
  });
  after(async () => {
    await page?.close();
  });

  const refusals = [
    ['http on a host that is not loopback', { workerUrl: 'http://actas.example:8787' }, 'The Worker URL must use https (http only on 127.0.0.1 or localhost)'],
    ['a query on the Worker URL', { workerUrl: 'WORKER/?x=1' }, 'The Worker URL may not carry user-info, a query or a fragment'],
    ['a fragment on the issuer', { issuer: 'ISSUER#f' }, 'The issuer may not carry user-info, a query or a fragment'],
    ['no issuer', { issuer: '' }, 'The issuer is required'],
    ['a client id with a space', { clientId: 'actas extension' }, 'The sign-in client id is required: printable characters, no spaces'],
    ['a time box of zero', { sessionMinutes: '0' }, 'The time box must be a whole number of minutes from 1 to 480'],
    ['an extra host with a scheme', { impersonationHosts: 'https://login.example' }, 'Extra impersonation hosts: "https://login.example" is not a host'],
    ['a site pattern without a regex', { sitePatterns: 'tickets.example' }, 'Per-site user patterns, line 1: expected "HOST REGEX"'],
    ['an issuer that is no realm', { issuer: 'EMULATOR/realms/nope' }, 'openid-configuration answered 404'],
    ['a path that is not the issuer', { issuer: 'EMULATOR/admin' }, 'answered 404'],
    ['a client id Bare.ID does not know', { clientId: 'actas-extensoin' }, 'Bare.ID does not accept the sign-in client id "actas-extensoin"'],
  ];
  for (const [name, fields, message] of refusals) {
    test(`refused: ${name}, nothing saved`, async () => {
      const before = await stored();
      const values = { ...good(), sessionMinutes: '30', impersonationHosts: '', sitePatterns: '' };
      for (const [k, v] of Object.entries(fields)) {
        values[k] = v.replace('WORKER', stack.workerURL).replace('ISSUER', good().issuer).replace('EMULATOR', stack.emulatorURL);
      }
      const error = await save(page, values);
      assert.ok(error.includes(message), `error: ${error}`);
      assert.equal(await page.text('#saved'), '');
      assert.deepEqual(await stored(), before, 'nothing was saved');
    });
  }

  test('good values are saved, the URLs without a trailing slash', async () => {
    const error = await save(page, { ...good(), workerUrl: `${stack.workerURL}/`, sessionMinutes: '30', impersonationHosts: '', sitePatterns: '' });
    assert.equal(error, '');
    const s = await stored();
    assert.equal(s.workerUrl, stack.workerURL);
    assert.equal(s.issuer, good().issuer);
    assert.equal(s.clientId, 'actas-extension');
  });

  test('the service worker refuses bad settings too', async () => {
    const res = await page.evaluate(() => chrome.runtime.sendMessage({ op: 'saveSettings', changes: { workerUrl: 'http://actas.example' } }));
    assert.equal(res.ok, false);
    assert.match(res.error.message, /The Worker URL must use https/);
    assert.equal((await stored()).workerUrl, stack.workerURL);
  });
});

describe('the popup', () => {
  before(async () => {
    await sw((s) => chrome.storage.sync.set(s), { workerUrl: stack.workerURL, issuer: `${stack.emulatorURL}/realms/demo` });
  });

  test('a sign-in the Worker refuses keeps no tokens, and its notice goes with the next sign-in', async () => {
    await stack.emulator('PUT', '/_control/login', { autoLogin: 'nora' }); // no actas role
    const popup = await browser.extensionPage('pages/popup.html');
    await popup.click('#sign-in');
    await popup.waitFor('#error:not(:empty), #notice .card.error');
    // Whether tokens are there, never the tokens themselves (an assertion prints its values).
    assert.equal(await sw(async () => 'auth' in (await chrome.storage.session.get(null))), false, 'no tokens of the refused admin in storage.session');
    assert.equal(await session('me'), null);
    await popup.waitFor('#sign-in');
    await popup.waitFor('#last-notice'); // the refusal, as a notice

    await stack.emulator('PUT', '/_control/login', { autoLogin: 'ada' });
    await popup.click('#sign-in');
    await popup.waitFor('#actor');
    assert.equal(await popup.text('#actor'), 'ada@example.com');
    assert.equal(await popup.count('#last-notice'), 0, 'the earlier admin\'s refusal is gone');
    assert.equal(await session('lastNotice'), null);
    await popup.close();
  });

  test('a notice expires, also while the popup is open', async () => {
    await signedIn();
    const old = Date.now() - 10 * 60_000;
    await sw(
      (n) => chrome.storage.session.set({ lastNotice: n }),
      { title: 'Not allowed', message: 'an old refusal', kind: 'forbidden', at: new Date(old).toISOString(), expiresAt: old + 5 * 60_000 },
    );
    const popup = await browser.extensionPage('pages/popup.html');
    await popup.waitFor('#actor');
    assert.doesNotMatch(await popup.text('#notice'), /an old refusal/, 'a stale notice is not shown');

    const now = Date.now();
    await sw(
      (n) => chrome.storage.session.set({ lastNotice: n }),
      { title: 'Not allowed', message: 'a fresh refusal', kind: 'forbidden', at: new Date(now).toISOString(), expiresAt: now + 1500 },
    );
    await popup.waitForText('a fresh refusal', '#notice', 5_000); // shown without reopening
    await popup.until(() => !document.getElementById('notice').textContent.includes('a fresh refusal'), undefined, 'the notice to expire', 5_000);
    await popup.close();
  });
});

describe('impersonations', () => {
  let adminPage;
  const pages = [];

  before(async () => {
    await signedIn();
    await sw(() => chrome.storage.local.set({ tabModeWarned: true })); // straight to the tab
    adminPage = await browser.newTab(`${stack.emulatorURL}/admin`);
    pages.push(adminPage);
  });

  /** Impersonates from a one-UUID link, straight away; resolves with {id, tabId, page}. */
  async function open(user) {
    const res = await menuClick(adminPage, userLink(user.uuid));
    assert.equal(res.outcome, 'opened', JSON.stringify(res));
    const page = await newAppPage(pages);
    pages.push(page);
    await page.waitForText(`Signed in as ${user.name}`);
    return { ...res, page };
  }

  test('a later impersonation in the same profile replaces the earlier one: ended, and its banner says so', async () => {
    const first = await open(alice);
    await waitForBanner(first.tabId, (t) => t.includes(`Acting as Alice Archer (${alice.uuid})`));

    const second = await open(bob);
    await waitForBanner(second.tabId, (t) => t.includes(`Acting as Bob Baker (${bob.uuid})`));

    // Alice's tab no longer names her: the profile's session is Bob's now.
    const text = await waitForBanner(first.tabId, (t) => !t.includes('Acting as'));
    assert.match(text, /Impersonation replaced/);
    assert.doesNotMatch(text, /Alice|Bob/);
    assert.ok((await auditRecord(first.id)).endedAt, 'the trail records the end of the replaced one');
    assert.equal((await auditRecord(second.id)).endedAt ?? null, null, 'the new one is open');
    assert.deepEqual(Object.keys(await session('active')), [second.id]);
    const n = await session('lastNotice');
    assert.equal(n.kind, 'replaced');
    assert.match(n.message, /Alice Archer/);

    // Reloaded, the earlier tab shows Bob's session, and still no "Acting as Alice".
    await first.page.reload();
    await first.page.waitForText('Signed in as Bob Baker');
    const again = await waitForBanner(first.tabId, (t) => t.includes('Impersonation replaced'));
    assert.doesNotMatch(again, /Acting as/);

    const popup = await browser.extensionPage('pages/popup.html');
    await popup.waitFor('#active .card');
    assert.equal(await popup.count('#active .card'), 1, 'the popup lists only the open one');
    assert.match(await popup.text('#active'), /Customer CRM as Bob Baker/);
    await popup.close();
  });

  test('End in the popup removes the impersonation from it, and so does an End elsewhere', async () => {
    const popup = await browser.extensionPage('pages/popup.html');
    await popup.waitFor('#active .card');
    await popup.click('#active button.danger');
    await popup.waitForText('No impersonation open.', '#active', 5_000);
    assert.equal(await popup.count('#active .card'), 0);

    const third = await open(alice);
    const cardFor = (name) => [...document.querySelectorAll('#active .card')].some((c) => c.textContent.includes(name));
    await popup.until(cardFor, 'Alice Archer', 'Alice\'s card', 5_000); // shown without reopening
    assert.deepEqual(await sw((id) => globalThis.actas.end(id), third.id), { ended: true, recorded: true });
    await popup.waitForText('No impersonation open.', '#active', 5_000);
    assert.equal(await popup.count('#active .card'), 0);
    await popup.close();
  });

  test('a link naming two UUIDs: the admin chooses, each with what the page says about it', async () => {
    // An admin tool whose membership link holds the organisation's id and the user's,
    // with the text of another user: nothing may put that text beside either id.
    const twoIds = new URL(`/orgs/${ORG}/users/${bob.uuid}`, stack.emulatorURL).href;
    await adminPage.evaluate(({ twoIds, org }) => {
      const add = (href, text) => {
        const a = document.createElement('a');
        a.href = href;
        a.textContent = text;
        document.body.append(a, ' ');
      };
      add(twoIds, 'Alice Archer');
      add(`/orgs/${org}`, 'Acme Org');
    }, { twoIds, org: ORG });
    const before = await stack.emulatorStats();
    const res = await menuClick(adminPage, twoIds);
    assert.equal(res.outcome, 'reason', 'several UUIDs always go through the reason window');
    const win = await reasonWindow(browser, res.requestId);
    const choices = await win.evaluate(() => [...document.querySelectorAll('#candidates label.choice')].map((c) => c.textContent));
    assert.equal(choices.length, 2);
    assert.match(choices[0], new RegExp(`Acme Org.*${ORG}`));
    assert.match(choices[1], new RegExp(`Bob Baker.*${bob.uuid}`));
    assert.doesNotMatch(await win.text('form'), /Alice/, 'the link\'s text is beside no UUID');
    assert.equal(await win.count('input[name=user]:checked'), 0, 'nothing chosen for the admin');

    await win.click('#go');
    await win.waitForText('Choose which user', '#error');
    assert.equal((await stack.emulatorStats()).mintRequests, before.mintRequests, 'nothing minted without a choice');

    await win.click(`input[name=user][value="${bob.uuid}"]`);
    assert.equal(await win.value('input[name=user]:checked'), bob.uuid);
    await go(win);
    const page = await newAppPage(pages);
    pages.push(page);
    await page.waitForText('Signed in as Bob Baker');
    const [imp] = Object.values(await session('active'));
    assert.equal(imp.userUuid, bob.uuid);
    assert.equal(imp.userLabel, 'Bob Baker');
    assert.equal((await auditRecord(imp.id)).userUuid, bob.uuid);
    await waitForBanner(imp.tabId, (t) => t.includes(`Acting as Bob Baker (${bob.uuid})`));
    await sw((id) => globalThis.actas.end(id), imp.id);
  });

  test('a site pattern decides between the UUIDs of a link', async () => {
    const host = new URL(stack.emulatorURL).hostname;
    await sw((p) => chrome.storage.sync.set({ sitePatterns: p }), `${host} /orgs/[^/]+/users/([0-9a-f-]{36})`);
    try {
      const twoIds = new URL(`/orgs/${ORG}/users/${alice.uuid}`, stack.emulatorURL).href;
      const res = await menuClick(adminPage, twoIds);
      assert.equal(res.outcome, 'opened');
      const page = await newAppPage(pages);
      pages.push(page);
      await page.waitForText('Signed in as Alice Archer');
      const imp = (await session('active'))[res.id];
      assert.equal(imp.userUuid, alice.uuid);
      assert.equal(imp.userLabel, 'Alice Archer', 'named by the page\'s link that holds her UUID alone');
      await sw((id) => globalThis.actas.end(id), res.id);
    } finally {
      await sw(() => chrome.storage.sync.remove('sitePatterns'));
    }
  });

  test('signing out clears the popup: no impersonations, no recent list, no notice', async () => {
    await open(alice);
    const popup = await browser.extensionPage('pages/popup.html');
    await popup.waitFor('#active .card');
    await popup.waitFor('#recent table');
    await popup.click('#sign-out');
    await popup.waitFor('#sign-in');
    assert.equal(await popup.count('#active .card'), 0);
    assert.match(await popup.text('#active'), /No impersonation open\./);
    assert.equal(await popup.count('#recent table'), 0);
    assert.equal(await popup.count('#last-notice'), 0);
    await popup.close();
  });
});
