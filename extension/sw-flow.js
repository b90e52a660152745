// What a context-menu click does: find the user, ask for the reason when the Worker
// requires one (or the admin chooses the application), mint, open, track.

import { cleanLabel, linkTexts } from './lib/label.js';
import { extractUserUuid, parseSitePatterns } from './lib/uuid.js';
import { randomString } from './lib/pkce.js';
import { endImpersonation, mint } from './sw-api.js';
import { MENU_CHOOSE, MENU_CLIENT, MENU_SIGN_IN, refreshProfile } from './sw-menu.js';
import { notify, notifyError } from './sw-notify.js';
import { checkOpenMode, openImpersonation } from './sw-open.js';
import { track } from './sw-sessions.js';
import { settings } from './sw-settings.js';
import { updateSession } from './sw-store.js';
import { accessToken, signIn } from './sw-auth.js';

const REQUEST_TTL_MS = 10 * 60_000; // a reason window left open this long is stale
const REASON_WINDOW = { width: 460, height: 560 };

/** The contextMenus.onClicked listener. */
export async function onMenuClick(info, tab) {
  try {
    if (info.menuItemId === MENU_SIGN_IN) {
      await signIn({ interactive: true });
      await refreshProfile();
      return;
    }
    const s = await settings();
    const found = extractUserUuid(info, parseSitePatterns(s.sitePatterns).patterns);
    if (!found.uuid) {
      const where = found.looked.length ? found.looked.join(', ') : 'nothing to search';
      const site = info.pageUrl ? ` on ${new URL(info.pageUrl).host}` : '';
      await notify('No user id found', `actas looked for a user UUID in: ${where}${site}. Right-click a link or select text that contains the user's UUID, or add a site pattern in the options.`, 'no-uuid');
      return { outcome: 'no-uuid' };
    }
    const { me } = await chrome.storage.session.get('me');
    if (!me) {
      await notify('Sign in to actas', 'Open the actas toolbar button and sign in first.', 'signed-out');
      return { outcome: 'signed-out' };
    }
    await accessToken(); // an expired sign-in is reported now, before any window opens
    const id = String(info.menuItemId);
    const clientId = id.startsWith(MENU_CLIENT) ? id.slice(MENU_CLIENT.length) : '';
    const request = {
      userUuid: found.uuid,
      userLabel: await userLabel(info, tab, found.uuid),
      tabHost: info.pageUrl ? new URL(info.pageUrl).host : '',
      clientId,
      openMode: s.openMode,
      tab: tab ? { id: tab.id, windowId: tab.windowId, index: tab.index, incognito: tab.incognito } : null,
      createdAt: Date.now(),
    };
    // The reason window also confirms the first tab: it warns that a tab may replace the
    // admin's own Bare.ID session in this profile (once; see submitReason).
    const { tabModeWarned } = await chrome.storage.local.get('tabModeWarned');
    if (me.reasonRequired || id === MENU_CHOOSE || !clientId || (s.openMode === 'tab' && !tabModeWarned)) {
      return { outcome: 'reason', requestId: await askReason(request) };
    }
    return await impersonate(request);
  } catch (err) {
    await notifyError(err);
    return { outcome: 'error', kind: err.kind };
  }
}

/**
 * The user's name as the admin tool shows it: Firefox passes the link's text; elsewhere
 * it is read from the page (the click grants activeTab). '' when there is none.
 */
async function userLabel(info, tab, uuid) {
  if (!info.linkUrl) return '';
  if (typeof info.linkText === 'string') return cleanLabel(info.linkText, uuid);
  if (tab?.id === undefined) return '';
  try {
    const target = { tabId: tab.id, frameIds: [info.frameId ?? 0] };
    const [res] = await chrome.scripting.executeScript({ target, func: linkTexts, args: [info.linkUrl] });
    const texts = Array.isArray(res?.result) ? res.result : [];
    return texts.map((t) => cleanLabel(t, uuid)).find(Boolean) ?? '';
  } catch {
    return ''; // no access to this page: the UUID alone
  }
}

/** Opens the reason window for a request kept in storage.session (no secrets in it). */
async function askReason(request) {
  const requestId = randomString(12);
  await updateSession('pending', (pending) => {
    for (const [k, v] of Object.entries(pending)) if (stale(v)) delete pending[k];
    pending[requestId] = request;
  });
  await chrome.windows.create({
    url: chrome.runtime.getURL(`pages/reason.html#${requestId}`),
    type: 'popup',
    ...REASON_WINDOW,
  });
  return requestId;
}

const stale = (request) => Date.now() - request.createdAt > REQUEST_TTL_MS;

/** The pending request the reason window shows; null once stale. */
export async function pendingRequest(requestId) {
  const { pending = {} } = await chrome.storage.session.get('pending');
  const request = pending[requestId];
  return request && !stale(request) ? request : null;
}

/** Drops a pending request (the reason window's Cancel, or after submit). */
export async function dropRequest(requestId) {
  await updateSession('pending', (pending) => {
    delete pending[requestId];
  });
}

/** The reason window's submit: {requestId, clientId, reason, openMode}. */
export async function submitReason({ requestId, clientId, reason, openMode }) {
  const request = await pendingRequest(requestId);
  if (!request) throw new Error('This request is no longer open: right-click the user again.');
  const mode = openMode || request.openMode;
  const done = await impersonate({ ...request, clientId: clientId || request.clientId, reason, openMode: mode });
  if (mode === 'tab') await chrome.storage.local.set({ tabModeWarned: true }); // the warning was seen
  await dropRequest(requestId); // kept until it worked, so the admin can fix the reason and retry
  return done;
}

/** Mints at the Worker, opens the chosen way, and tracks it for the banner. */
export async function impersonate(request) {
  await checkOpenMode(request.openMode, request.tab); // nothing is minted for a window that cannot open
  const minted = await mint({ userUuid: request.userUuid, clientId: request.clientId, reason: request.reason ?? '' });
  let opened;
  try {
    opened = await openImpersonation(minted, request.openMode, request.tab);
  } catch (err) {
    // Minted but never opened: the trail says it ended at once, and no tab is tracked.
    await endImpersonation(minted.id).catch(() => {});
    throw err;
  }
  const { me } = await chrome.storage.session.get('me');
  const app = me?.clients?.find((c) => c.clientId === minted.clientId)?.name ?? minted.clientId;
  await track({
    id: minted.id,
    userUuid: minted.userUuid,
    userLabel: request.userLabel ?? '',
    clientId: minted.clientId,
    app,
    reason: request.reason ?? '',
    ...opened,
  });
  return { outcome: 'opened', id: minted.id, tabId: opened.tabId, mode: opened.mode };
}
