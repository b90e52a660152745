// Opening an impersonation in the browser. The token never goes into a URL, history
// entry or storage area: the Worker's answer stays in this module's memory until the
// extension page opened for it (pages/open.html, in the chosen tab or window) asks for
// it once by a random handoff id; that page builds a form and POSTs it.

import { randomString } from './lib/pkce.js';
import { checkImpersonationUrl } from './lib/urlcheck.js';
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
 * `tab` (the admin tool's tab). Resolves with {tabId, windowId, mode, cookieStoreId}.
 */
export async function openImpersonation(minted, mode, tab) {
  const { hosts, issuer } = await allowedHosts();
  const url = checkImpersonationUrl(minted.url, { allowedHosts: hosts, issuer });
  const method = minted.method === 'GET' ? 'GET' : 'POST';
  const field = minted.field || 'token';
  const id = randomString(16);
  handoffs.set(id, { url: url.href, method, field, token: minted.token });
  setTimeout(() => handoffs.delete(id), HANDOFF_TTL_MS);
  const page = chrome.runtime.getURL(`pages/open.html#${id}`);

  if (mode === 'incognito') {
    const win = await chrome.windows.create({ url: page, incognito: true, focused: true });
    return { tabId: win.tabs?.[0]?.id, windowId: win.id, mode };
  }
  if (mode === 'container') {
    const cookieStoreId = await dedicatedContainer(minted);
    const created = await chrome.tabs.create({ url: page, cookieStoreId, windowId: tab?.windowId, active: true });
    return { tabId: created.id, windowId: created.windowId, mode, cookieStoreId };
  }
  const created = await chrome.tabs.create({
    url: page,
    windowId: tab?.windowId,
    index: tab?.index !== undefined ? tab.index + 1 : undefined,
    openerTabId: tab?.id,
    active: true,
  });
  return { tabId: created.id, windowId: created.windowId, mode: 'tab' };
}

// Firefox only: a fresh container per impersonation, so its cookies are separate from
// the admin's own and go away with it.
async function dedicatedContainer(minted) {
  if (!globalThis.browser?.contextualIdentities && !chrome.contextualIdentities) {
    throw new Error('Containers exist only in Firefox: choose another open mode.');
  }
  const api = chrome.contextualIdentities ?? globalThis.browser.contextualIdentities;
  const ci = await api.create({ name: `actas ${minted.clientId}`, color: 'orange', icon: 'fingerprint' });
  return ci.cookieStoreId;
}

