// What a context-menu click does: find the user, ask for the reason when the Worker
// requires one (or the admin chooses the application), mint, open, track.

import { cleanLabel, linkTexts, uuidLinkTexts } from './lib/label.js';
import { allUuids, extractUserUuid, parseSitePatterns } from './lib/uuid.js';
import { randomString } from './lib/pkce.js';
import { endImpersonation, mint } from './sw-api.js';
import { MENU_CHOOSE, MENU_CLIENT, MENU_SIGN_IN, signInAndLoad } from './sw-menu.js';
import { notify, notifyError } from './sw-notify.js';
import { checkOpenMode, openImpersonation } from './sw-open.js';
import { track } from './sw-sessions.js';
import { settings } from './sw-settings.js';
import { updateSession } from './sw-store.js';
import { accessToken } from './sw-auth.js';

const REQUEST_TTL_MS = 10 * 60_000; // a reason window left open this long is stale
const REASON_WINDOW = { width: 460, height: 560 };

/** The contextMenus.onClicked listener. */
export async function onMenuClick(info, tab) {
  try {
    if (info.menuItemId === MENU_SIGN_IN) {
      await signInAndLoad();
      return;
    }
    const s = await settings();
    const found = extractUserUuid(info, parseSitePatterns(s.sitePatterns).patterns);
    if (!found.candidates) {
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
    const labels = await userLabels(info, tab, found);
    const request = {
      userUuid: found.uuid ?? '', // '' until the admin chooses among the candidates
      userLabel: found.uuid ? labels[found.uuid] : '',
      // Several UUIDs and nothing to decide between them: the reason window asks.
      candidates: found.uuid ? [] : found.candidates.map((uuid) => ({ uuid, label: labels[uuid] })),
      tabHost: info.pageUrl ? new URL(info.pageUrl).host : '',
      clientId,
      openMode: s.openMode,
      tab: tab ? { id: tab.id, windowId: tab.windowId, index: tab.index, incognito: tab.incognito } : null,
      createdAt: Date.now(),
    };
    // The reason window also confirms the first tab: it warns that a tab may replace the
    // admin's own Bare.ID session in this profile (once; see submitReason).
    const { tabModeWarned } = await chrome.storage.local.get('tabModeWarned');
    if (!found.uuid || me.reasonRequired || id === MENU_CHOOSE || !clientId || (s.openMode === 'tab' && !tabModeWarned)) {
      return { outcome: 'reason', requestId: await askReason(request) };
    }
    return await impersonate(request);
  } catch (err) {
    await notifyError(err);
    return { outcome: 'error', kind: err.kind };
  }
}

/**
 * What the admin tool calls each UUID the click found: {uuid: label}, '' where it says
 * nothing certain. A name is only ever taken from a link that holds that one UUID and no
 * other: the right-clicked link's text when it is such a link (Firefox passes the text
 * with the click; elsewhere it is read from the page, which the click's activeTab
 * allows), else the texts of such links elsewhere on the page.
 */
async function userLabels(info, tab, found) {
  const labels = Object.fromEntries(found.candidates.map((u) => [u, '']));
  const linkHolds = allUuids(info.linkUrl);
  if (found.source === 'link' && found.uuid && linkHolds.length === 1 && linkHolds[0] === found.uuid) {
    labels[found.uuid] = await clickedLinkLabel(info, tab, found.uuid);
    return labels;
  }
  if (found.source === 'page') return labels; // the page's own address: no link to read
  const texts = await inPage(tab, info, uuidLinkTexts, [found.candidates]);
  for (const u of found.candidates) {
    labels[u] = (Array.isArray(texts?.[u]) ? texts[u] : []).map((t) => cleanLabel(t, u)).find(Boolean) ?? '';
  }
  return labels;
}

async function clickedLinkLabel(info, tab, uuid) {
  if (typeof info.linkText === 'string') return cleanLabel(info.linkText, uuid);
  const texts = await inPage(tab, info, linkTexts, [info.linkUrl]);
  return (Array.isArray(texts) ? texts : []).map((t) => cleanLabel(t, uuid)).find(Boolean) ?? '';
}

/** Runs func in the clicked frame; null without access to the page (the UUID alone). */
async function inPage(tab, info, func, args) {
  if (tab?.id === undefined) return null;
  try {
    const target = { tabId: tab.id, frameIds: [info.frameId ?? 0] };
    const [res] = await chrome.scripting.executeScript({ target, func, args });
    return res?.result ?? null;
  } catch {
    return null;
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

/** The reason window's submit: {requestId, clientId, reason, openMode, userUuid}. */
export async function submitReason({ requestId, clientId, reason, openMode, userUuid }) {
  const request = await pendingRequest(requestId);
  if (!request) throw new Error('This request is no longer open: right-click the user again.');
  const mode = openMode || request.openMode;
  const user = chosenUser(request, userUuid);
  const done = await impersonate({ ...request, ...user, clientId: clientId || request.clientId, reason, openMode: mode });
  if (mode === 'tab') await chrome.storage.local.set({ tabModeWarned: true }); // the warning was seen
  await dropRequest(requestId); // kept until it worked, so the admin can fix the reason and retry
  return done;
}

/** The user a request is for: its own, or the candidate the admin chose (with that one's label only). */
function chosenUser(request, userUuid) {
  if (!request.candidates?.length) return { userUuid: request.userUuid, userLabel: request.userLabel };
  const chosen = request.candidates.find((c) => c.uuid === String(userUuid ?? '').toLowerCase());
  if (!chosen) throw new Error('Choose which user to act as: the link names several.');
  return { userUuid: chosen.uuid, userLabel: chosen.label };
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
