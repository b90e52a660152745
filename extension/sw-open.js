// Opening an impersonation in the browser. The token never goes into a URL, history
// entry or storage area. In a tab or container, the Worker's answer stays in this
// module's memory until the extension page opened for it (pages/open.html) asks for it
// once by a random handoff id; that page builds a form and POSTs it. Browsers do not
// show an extension's own pages in a private window (Chromium only in "split" mode,
// which would run a second, signed-out copy of actas there), so a private window opens
// the Worker's empty GET /open page instead, and the form is added to it from the
// isolated content-script world, where the page's own code cannot see it.

import { submitImpersonation } from './lib/formpost.js';
import { containers } from './lib/platform.js';
import { randomString } from './lib/pkce.js';
import { ActasError } from './lib/problem.js';
import { checkImpersonationUrl, originPattern, realmOf } from './lib/urlcheck.js';
import { settings } from './sw-settings.js';

// A token is good for 60 s; an unclaimed handoff is dropped well before that.
const HANDOFF_TTL_MS = 45_000;
const handoffs = new Map(); // handoff id -> {url, method, field, token}

/** Takes the handoff once (pages/open.html calls this through a message). */
export function takeHandoff(id) {
  const h = handoffs.get(id);
  handoffs.delete(id);
  return h ?? null;
}

/** Allowed impersonation hosts: the issuer's host plus configured extra hosts. */
export async function allowedHosts() {
  const s = await settings();
  const hosts = String(s.impersonationHosts ?? '').split(',').map((h) => h.trim()).filter(Boolean);
  if (s.issuer) hosts.push(new URL(s.issuer).host);
  return { hosts, issuer: s.issuer };
}

/**
 * Opens the minted impersonation in `mode` ('tab', 'incognito', 'container'), next to
 * `tab` (the admin tool's tab). Resolves with {tabId, windowId, mode, cookieStoreId,
 * realm, incognito}: where it lives, and the realm whose end-session endpoint ends it.
 */
export async function openImpersonation(minted, mode, tab) {
  const { hosts, issuer } = await allowedHosts();
  const url = checkImpersonationUrl(minted.url, { allowedHosts: hosts, issuer });
  const realm = realmOf(url, issuer);
  const handoff = { url: url.href, method: minted.method === 'GET' ? 'GET' : 'POST', field: minted.field || 'token', token: minted.token };
  if (mode === 'incognito') return { ...(await openInPrivate(handoff, null)), realm, incognito: true };
  // Right-clicked in a private window: the new tab must stay there, with its cookies.
  if (mode === 'tab' && tab?.incognito) return { ...(await openInPrivate(handoff, tab)), realm, incognito: true };
  return { ...(await openInProfile(handoff, mode, tab, minted)), realm };
}

/**
 * A tab (or Firefox container tab) in the admin's profile, through pages/open.html.
 * Without the admin tool's tab, the browser puts it in the window last focused, which
 * in Firefox may be a private one: `incognito` says where it really landed, since that
 * decides which cookie jar (and so which open impersonation's session) it shares.
 */
async function openInProfile(handoff, mode, tab, minted) {
  const id = randomString(16);
  handoffs.set(id, handoff);
  setTimeout(() => handoffs.delete(id), HANDOFF_TTL_MS);
  const page = chrome.runtime.getURL(`pages/open.html#${id}`);
  // Next to the admin tool's tab while it is still there; else in the current window.
  const stillThere = tab?.id !== undefined && (await chrome.tabs.get(tab.id).catch(() => null));
  const place = stillThere ? { windowId: stillThere.windowId, index: stillThere.index + 1, openerTabId: stillThere.id } : {};
  if (mode === 'container') {
    const cookieStoreId = await dedicatedContainer(minted);
    try {
      const created = await chrome.tabs.create({ url: page, cookieStoreId, active: true, ...place });
      return { tabId: created.id, windowId: created.windowId, mode, cookieStoreId, incognito: created.incognito === true };
    } catch (err) {
      await containers().remove(cookieStoreId).catch(() => {});
      throw err;
    }
  }
  const created = await chrome.tabs.create({ url: page, active: true, ...place });
  return { tabId: created.id, windowId: created.windowId, mode: 'tab', incognito: created.incognito === true };
}

/**
 * Throws, before anything is minted, when `mode` cannot work in this browser as it is
 * set up: a private window needs "Allow in Incognito" and access to the Worker's
 * origin, a container needs Firefox.
 */
export async function checkOpenMode(mode, tab) {
  if (mode === 'incognito' || (mode === 'tab' && tab?.incognito)) {
    if (!(await chrome.extension.isAllowedIncognitoAccess())) {
      throw new ActasError(
        'incognito-not-allowed',
        'Private windows are off for actas',
        'To open impersonations in a private window, open the browser\'s extensions page, choose actas → Details and turn on "Allow in Incognito" (Firefox: "Run in Private Windows"). Or choose another open mode.',
      );
    }
    const { workerUrl } = await settings();
    if (!(await chrome.permissions.contains({ origins: [originPattern(workerUrl)] }))) {
      throw new ActasError(
        'worker-access-missing',
        'actas needs access to the Worker',
        'A private window opens the Worker\'s page first. Open the actas options and choose "Save and allow access".',
      );
    }
  }
  if (mode === 'container' && !containers()) {
    throw new ActasError('containers-unavailable', 'No containers here', 'Containers exist only in Firefox: choose another open mode.');
  }
  if (mode === 'container' && tab?.incognito) {
    throw new ActasError('containers-unavailable', 'No containers in private windows', 'Firefox has no containers in private windows: choose a tab or a private window.');
  }
}

const PAGE_LOAD_TIMEOUT_MS = 15_000;

/**
 * Opens the Worker's /open page in a private context and sends the impersonation from
 * there: a new private window, or (inPrivateTab) a new tab next to the admin's own tab
 * in a private window, where an extension page would be moved out to a normal window.
 */
async function openInPrivate(handoff, inPrivateTab) {
  const { workerUrl } = await settings();
  const blank = new URL('/open', workerUrl).href;
  let tabId;
  let windowId;
  let discard;
  if (inPrivateTab) {
    const created = await chrome.tabs.create({ url: blank, windowId: inPrivateTab.windowId, index: inPrivateTab.index + 1, active: true });
    ({ id: tabId, windowId } = created);
    discard = () => chrome.tabs.remove(tabId);
  } else {
    const win = await chrome.windows.create({ url: blank, incognito: true, focused: true });
    windowId = win.id;
    tabId = win.tabs?.[0]?.id ?? (await chrome.tabs.query({ windowId })).at(0)?.id;
    discard = () => chrome.windows.remove(windowId);
  }
  try {
    const loaded = await loadedUrl(tabId);
    if (loaded !== blank) {
      // Cloudflare Access (or anything else) sent the window elsewhere: the token is
      // not handed to a page that is not the Worker's.
      const where = loaded ? ` (it went to ${new URL(loaded).origin})` : ' (it went to a page actas has no access to)';
      throw new ActasError('open-page-unavailable', 'Could not open the private window', `The private window did not load ${blank}${where}. If the Worker is behind Cloudflare Access, exempt GET /open from it.`);
    }
    const [res] = await chrome.scripting.executeScript({ target: { tabId }, func: submitImpersonation, args: [{ ...handoff, page: blank }] });
    if (res?.result !== true) {
      throw new ActasError('open-page-unavailable', 'Could not open the private window', `The private window left ${blank} before the impersonation could be sent.`);
    }
  } catch (err) {
    await discard().catch(() => {});
    throw err;
  }
  // A tab in the admin's own private window is a tab (End signs it out there); a window
  // of its own is closed at End.
  return { tabId, windowId, mode: inPrivateTab ? 'tab' : 'incognito' };
}

/** Resolves with the URL of the tab once it has finished loading a page. */
function loadedUrl(tabId) {
  return new Promise((resolve, reject) => {
    const done = (fn, v) => {
      clearTimeout(timer);
      chrome.tabs.onUpdated.removeListener(listener);
      fn(v);
    };
    // Without host access to a page, the browser hides its URL: such a page is not the
    // Worker's (whose origin actas has access to), so it resolves as '' (elsewhere).
    const listener = (id, change, tab) => {
      if (id !== tabId || change.status !== 'complete') return;
      if (!tab.url) done(resolve, '');
      else if (/^https?:/.test(tab.url)) done(resolve, tab.url);
    };
    const timer = setTimeout(
      () => done(reject, new ActasError('open-page-unavailable', 'Could not open the private window', 'The Worker\'s page did not load in the private window in time.')),
      PAGE_LOAD_TIMEOUT_MS,
    );
    chrome.tabs.onUpdated.addListener(listener);
    chrome.tabs.get(tabId).then((tab) => {
      if (tab.status === 'complete' && /^https?:/.test(tab.url ?? '')) done(resolve, tab.url);
    }, () => {});
  });
}

// Firefox only: a fresh container per impersonation, so its cookies are separate from
// the admin's own and go away with it.
async function dedicatedContainer(minted) {
  const ci = await containers().create({ name: `actas ${minted.clientId}`, color: 'orange', icon: 'fingerprint' });
  return ci.cookieStoreId;
}

