// Impersonations opened from this browser: which tab each landed in, the banner there,
// the time box, and End. Kept in storage.session (no tokens), keyed by audit id.

import { endImpersonation } from './sw-api.js';
import { notify } from './sw-notify.js';
import { settings } from './sw-settings.js';

const ALARM_PREFIX = 'actas-end:';

async function all() {
  return (await chrome.storage.session.get('active')).active ?? {};
}

async function put(active) {
  await chrome.storage.session.set({ active });
}

/** Starts tracking an impersonation opened in `tabId`. */
export async function track(imp) {
  const { sessionMinutes } = await settings();
  const startedAt = Date.now();
  const active = await all();
  active[imp.id] = { ...imp, startedAt, endsAt: startedAt + sessionMinutes * 60_000, origin: null };
  await put(active);
  await chrome.alarms.create(ALARM_PREFIX + imp.id, { when: active[imp.id].endsAt });
}

/** The active impersonation in a tab, if any. */
export async function byTab(tabId) {
  return Object.values(await all()).find((a) => a.tabId === tabId) ?? null;
}

/** The active impersonations, newest first. */
export async function list() {
  return Object.values(await all()).sort((a, b) => b.startedAt - a.startedAt);
}

/**
 * tabs.onUpdated: when a tracked tab finishes loading a web page, remember the
 * application's origin (the first page it landed on) and show the banner there.
 */
export async function onTabUpdated(tabId, change, tab) {
  if (change.status !== 'complete' || !tab.url || !/^https?:/.test(tab.url)) return;
  const imp = await byTab(tabId);
  if (!imp) return;
  const origin = new URL(tab.url).origin;
  const { workerUrl } = await settings();
  if (workerUrl && origin === new URL(workerUrl).origin) return; // the private window's /open page
  if (!imp.origin) {
    const active = await all();
    active[imp.id].origin = origin;
    active[imp.id].landedAt = Date.now();
    await put(active);
  } else if (imp.origin !== origin) {
    return; // the tab went elsewhere: no banner on other sites
  }
  await injectBanner(tabId);
}

async function injectBanner(tabId) {
  try {
    await chrome.scripting.executeScript({ target: { tabId }, files: ['content/banner.js'] });
    return true;
  } catch {
    return false; // no host access for this origin yet: the popup offers to grant it
  }
}

/**
 * Shows the banner now (after the popup got host access for the application): only
 * while the tab still shows the application the impersonation landed in.
 */
export async function showBanner(id) {
  const imp = (await all())[id];
  if (!imp?.origin) return false;
  const tab = await chrome.tabs.get(imp.tabId).catch(() => null);
  if (!tab?.url || new URL(tab.url).origin !== imp.origin) return false;
  return injectBanner(imp.tabId);
}

/** What the banner shows; nothing secret. */
export function bannerState(imp) {
  return { userUuid: imp.userUuid, userLabel: imp.userLabel ?? '', app: imp.app, reason: imp.reason, endsAt: imp.endsAt };
}

/**
 * Ends an impersonation: records the end with the Worker (audited), then signs the
 * impersonated session out where it lives. A private window is closed, and its cookies
 * go with it, unless other private windows share them: then it goes to Bare.ID's
 * end-session endpoint first. A container tab is closed and the container removed. A
 * normal tab goes to Bare.ID's end-session endpoint.
 */
export async function end(id, why = 'ended') {
  const active = await all();
  const imp = active[id];
  if (!imp) return { ended: false };
  delete active[id];
  await put(active);
  await chrome.alarms.clear(ALARM_PREFIX + id);
  let recorded = true;
  try {
    await endImpersonation(id);
  } catch (err) {
    recorded = err.kind === 'impersonation-not-active';
    if (!recorded) await notify('End not recorded', `The session was signed out, but the Worker did not record the end: ${err.message}`, 'end-failed');
  }
  await signOutWhereItLives(imp);
  if (why === 'timeout') await notify('Impersonation ended', `The time box for ${imp.app} ran out; the session was signed out.`, 'timeout');
  return { ended: true, recorded };
}

async function signOutWhereItLives(imp) {
  const { issuer } = await settings();
  try {
    if (imp.mode === 'incognito' && imp.windowId !== undefined) {
      const others = (await chrome.windows.getAll()).filter((w) => w.incognito && w.id !== imp.windowId);
      if (others.length === 0) {
        await chrome.windows.remove(imp.windowId);
        return;
      }
    }
    if (imp.mode === 'container') {
      await chrome.tabs.remove(imp.tabId);
      const api = chrome.contextualIdentities ?? globalThis.browser?.contextualIdentities;
      if (api && imp.cookieStoreId) await api.remove(imp.cookieStoreId);
      return;
    }
    await chrome.tabs.update(imp.tabId, { url: `${issuer}/protocol/openid-connect/logout` });
  } catch {
    // the tab or window is already gone, and with it the pages
  }
}

/** alarms.onAlarm: the time box ran out. */
export async function onAlarm(alarm) {
  if (alarm.name.startsWith(ALARM_PREFIX)) await end(alarm.name.slice(ALARM_PREFIX.length), 'timeout');
}

/** tabs.onRemoved: a closed impersonation tab ends it (so the trail says so). */
export async function onTabRemoved(tabId) {
  const imp = await byTab(tabId);
  if (imp && imp.mode !== 'tab') await end(imp.id, 'closed');
}
