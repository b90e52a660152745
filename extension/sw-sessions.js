// Impersonations opened from this browser: which tab each landed in, the banner there,
// the time box, and End. Kept in storage.session (no tokens), keyed by audit id.
//
// One cookie jar holds one Bare.ID session per realm: a new impersonation that lands in
// the same jar and realm as an open one takes that session over. The earlier one is
// then ended (recorded with the Worker) and kept as "replaced" for its tab, whose banner
// says so instead of naming a user the page no longer belongs to.

import { containers } from './lib/platform.js';
import { endImpersonation } from './sw-api.js';
import { notify } from './sw-notify.js';
import { settings } from './sw-settings.js';
import { updateSession } from './sw-store.js';

const ALARM_PREFIX = 'actas-end:';
const REPLACED_KEEP_MS = 8 * 60 * 60_000; // the longest time box: then the tab is long stale

async function all() {
  return (await chrome.storage.session.get('active')).active ?? {};
}

const update = (fn) => updateSession('active', fn);

/**
 * Starts tracking an impersonation opened in `tabId`. `realm` is the Bare.ID realm URL
 * it lives in (from the impersonation URL), where End signs it out.
 */
export async function track(imp) {
  const { sessionMinutes } = await settings();
  const startedAt = Date.now();
  const endsAt = startedAt + sessionMinutes * 60_000;
  const earlier = await update((active) => {
    const same = Object.values(active).filter((a) => sameSession(a, imp));
    for (const a of same) delete active[a.id];
    active[imp.id] = { ...imp, startedAt, endsAt, origin: null };
    return { value: same };
  });
  await chrome.alarms.create(ALARM_PREFIX + imp.id, { when: endsAt });
  for (const old of earlier) await replaced(old, imp);
}

/** The cookie jar an impersonation's session lives in. */
function jarOf(imp) {
  if (imp.mode === 'container') return `container:${imp.cookieStoreId}`;
  return imp.incognito ? 'private' : 'profile'; // private windows share one jar
}

/** Whether two impersonations hold the same Bare.ID session (same jar, same realm). */
function sameSession(a, b) {
  return jarOf(a) === jarOf(b) && String(a.realm) === String(b.realm);
}

/**
 * `old`'s session was taken over by `by`: the end is recorded with the Worker (no sign
 * out: the session is `by`'s now), its tab's banner says it was replaced.
 */
async function replaced(old, by) {
  await chrome.alarms.clear(ALARM_PREFIX + old.id);
  await updateSession('replaced', (all) => {
    for (const [k, v] of Object.entries(all)) if (Date.now() - v.at > REPLACED_KEEP_MS) delete all[k];
    all[old.id] = { tabId: old.tabId, origin: old.origin, at: Date.now() };
  });
  let recorded = true;
  try {
    await endImpersonation(old.id);
  } catch (err) {
    recorded = err.kind === 'impersonation-not-active';
  }
  await chrome.tabs.sendMessage(old.tabId, { op: 'actasBannerChanged' }).catch(() => {}); // no banner there: nothing to update
  const who = (i) => (i.userLabel ? `${i.userLabel} (${i.userUuid})` : i.userUuid);
  await notify(
    'Impersonation replaced',
    `Acting as ${who(old)} in ${old.app} ended: the impersonation of ${who(by)} in this browser profile took over its Bare.ID session.` +
      (recorded ? '' : ' The Worker did not record the end.'),
    'replaced',
  );
}

/**
 * The replaced impersonation whose tab this is, while it shows that application (or any
 * page, when it was replaced before it landed anywhere).
 */
async function replacedIn(tabId, origin) {
  const { replaced: all = {} } = await chrome.storage.session.get('replaced');
  const here = (r) => r.tabId === tabId && (r.origin === origin || r.origin === null);
  return Object.values(all).find((r) => here(r) && Date.now() - r.at <= REPLACED_KEEP_MS) ?? null;
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
  const tracked = await byTab(tabId);
  const origin = new URL(tab.url).origin;
  if (!tracked) {
    if (await replacedIn(tabId, origin)) await injectBanner(tabId); // it says: replaced
    return;
  }
  if (await onTheWay(tab.url, tracked)) return;
  const show = await update((active) => {
    const imp = Object.values(active).find((a) => a.tabId === tabId);
    if (!imp) return { write: false, value: false }; // ended meanwhile
    if (imp.origin) return { write: false, value: imp.origin === origin }; // elsewhere: no banner
    imp.origin = origin;
    imp.landedAt = Date.now();
    return { value: true };
  });
  if (show) await injectBanner(tabId);
}

/**
 * Whether a page is one the impersonation passes through on its way to the
 * application: the Worker's /open page, or Bare.ID's own pages of the realm (an error
 * page, say), which are no application to learn the origin of.
 */
async function onTheWay(url, imp) {
  const { workerUrl } = await settings();
  if (workerUrl && new URL(url).origin === new URL(workerUrl).origin) return true;
  return Boolean(imp.realm) && url.startsWith(`${imp.realm}/`);
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

/**
 * What the banner in `tab` shows, for a page of `origin`; nothing secret. Null when no
 * impersonation landed there; {replaced: true} (and no name) when a later one took its
 * session over.
 */
export async function bannerState(tabId, origin) {
  const imp = await byTab(tabId);
  if (imp) {
    if (origin !== imp.origin) return null;
    return { userUuid: imp.userUuid, userLabel: imp.userLabel ?? '', app: imp.app, reason: imp.reason, endsAt: imp.endsAt };
  }
  return (await replacedIn(tabId, origin)) ? { replaced: true } : null;
}

/**
 * Ends an impersonation: records the end with the Worker (audited), then signs the
 * impersonated session out where it lives:
 * - a private window of its own is closed, and its cookies go with it, when no other
 *   private window shares them and nothing else was opened in it;
 * - a container tab is closed and the container removed;
 * - otherwise the tab (or, when it was closed, a new background tab in the same cookie
 *   jar) goes to the end-session endpoint of the realm the impersonation landed in.
 *   Keycloak asks there for a confirmation, since actas holds no ID token of the user.
 */
export async function end(id, why = 'ended') {
  const imp = await update((active) => {
    const found = active[id];
    if (!found) return { write: false, value: null };
    delete active[id];
    return { value: found };
  });
  if (!imp) return { ended: false };
  await chrome.alarms.clear(ALARM_PREFIX + id);
  let recorded = true;
  try {
    await endImpersonation(id);
  } catch (err) {
    recorded = err.kind === 'impersonation-not-active';
    if (!recorded) await notify('End not recorded', `The Worker did not record the end: ${err.message}`, 'end-failed');
  }
  const signedOut = await signOutWhereItLives(imp);
  if (why === 'timeout') {
    await notify(
      'Impersonation ended',
      signedOut
        ? `The time box for ${imp.app} ran out; the session was signed out.`
        : `The time box for ${imp.app} ran out, but actas could not sign the session out: sign out of Bare.ID in this browser.`,
      'timeout',
    );
  }
  return { ended: true, recorded };
}

/** Signs the impersonated session out; false when there was no way to. */
async function signOutWhereItLives(imp) {
  const logout = logoutUrl(imp);
  try {
    if (imp.mode === 'container') {
      await chrome.tabs.remove(imp.tabId).catch(() => {});
      const api = containers();
      if (api && imp.cookieStoreId) await api.remove(imp.cookieStoreId);
      return true;
    }
    const tab = await chrome.tabs.get(imp.tabId).catch(() => null);
    if (imp.mode === 'incognito') {
      const windows = await chrome.windows.getAll({ populate: true });
      const others = windows.filter((w) => w.incognito && w.id !== imp.windowId);
      const own = windows.find((w) => w.id === imp.windowId);
      if (others.length === 0) {
        if (!own) return true; // the last private window is gone, and its cookies with it
        if (own.tabs.every((t) => t.id === imp.tabId)) {
          await chrome.windows.remove(imp.windowId);
          return true;
        }
      }
    }
    if (tab) {
      await chrome.tabs.update(imp.tabId, { url: logout });
      return true;
    }
    // The tab is gone: sign out in the same cookie jar from a background tab.
    const jar = imp.incognito ? (await chrome.windows.getAll()).find((w) => w.incognito) : null;
    if (imp.incognito && !jar) return true; // no private window left: the cookies are gone
    await chrome.tabs.create({ url: logout, active: false, ...(jar ? { windowId: jar.id } : {}) });
    return true;
  } catch {
    return false;
  }
}

/** The end-session endpoint of the realm the impersonation landed in. */
function logoutUrl(imp) {
  return `${imp.realm}/protocol/openid-connect/logout`;
}

/** alarms.onAlarm: the time box ran out. */
export async function onAlarm(alarm) {
  if (alarm.name.startsWith(ALARM_PREFIX)) await end(alarm.name.slice(ALARM_PREFIX.length), 'timeout');
}

/**
 * tabs.onRemoved: closing a private window's or container's tab ends the impersonation
 * (its cookies are gone or going). A normal tab's session outlives the tab in this
 * profile, so it stays open until End or the time box.
 */
export async function onTabRemoved(tabId) {
  const imp = await byTab(tabId);
  if (imp && imp.mode !== 'tab') await end(imp.id, 'closed');
  const { replaced: all } = await chrome.storage.session.get('replaced');
  if (Object.values(all ?? {}).some((r) => r.tabId === tabId)) {
    await updateSession('replaced', (r) => {
      for (const [k, v] of Object.entries(r)) if (v.tabId === tabId) delete r[k];
    });
  }
}

/** Ends every open impersonation (before signing out of actas, while the end can still be recorded). */
export async function endAll(why) {
  for (const imp of await list()) await end(imp.id, why);
}
