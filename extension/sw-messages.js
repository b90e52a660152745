// The one runtime.onMessage listener. Extension pages (popup, options, reason, open)
// may call the operations below; the banner content script, which runs inside a page
// we treat as hostile, may only read its own tab's banner state and End it.

import { listImpersonations } from './sw-api.js';
import { checkSignInClient, isSignedIn, signOut } from './sw-auth.js';
import { dropRequest, pendingRequest, submitReason } from './sw-flow.js';
import { refreshProfile, signInAndLoad } from './sw-menu.js';
import { clearNotice, currentNotice, notifyError } from './sw-notify.js';
import { takeHandoff } from './sw-open.js';
import { bannerState, byTab, end, endAll, list, showBanner } from './sw-sessions.js';
import { loadSettings, saveSettings } from './sw-settings.js';

const EXTENSION_ORIGIN = new URL(chrome.runtime.getURL('')).origin;

function fromExtensionPage(sender) {
  return sender.id === chrome.runtime.id && typeof sender.url === 'string' && new URL(sender.url).origin === EXTENSION_ORIGIN;
}

function fromOurContentScript(sender) {
  return sender.id === chrome.runtime.id && sender.tab?.id !== undefined && sender.frameId === 0;
}

const pageOps = {
  async status() {
    const [{ me }, lastNotice, signedIn, active] = await Promise.all([
      chrome.storage.session.get('me'),
      currentNotice(),
      isSignedIn(),
      list(),
    ]);
    return { signedIn, me: me ?? null, lastNotice: lastNotice ?? null, active };
  },
  async signIn() {
    await signInAndLoad();
    return pageOps.status();
  },
  async signOut() {
    await endAll('signed-out'); // while the ends can still be recorded under this sign-in
    await signOut();
    await clearNotice();
    await refreshProfile();
    return pageOps.status();
  },
  recent: () => listImpersonations(10),
  end: ({ id }) => end(id),
  showBanner: ({ id }) => showBanner(id),
  takeHandoff: ({ id }) => takeHandoff(id),
  pendingRequest: ({ requestId }) => pendingRequest(requestId),
  cancelRequest: ({ requestId }) => dropRequest(requestId),
  submitReason: (msg) => submitReason(msg),
  loadSettings: () => loadSettings(),
  checkSignInClient: ({ issuer, clientId }) => checkSignInClient(issuer, clientId),
  async saveSettings({ changes }) {
    await saveSettings(changes);
    return loadSettings();
  },
  refreshProfile: () => refreshProfile(),
};

const contentOps = {
  bannerState: (_msg, sender) => bannerState(sender.tab.id, new URL(sender.url).origin),
  async bannerEnd(_msg, sender) {
    const imp = await byTab(sender.tab.id);
    if (!imp || new URL(sender.url).origin !== imp.origin) return { ended: false };
    return end(imp.id);
  },
};

/** runtime.onMessage listener; answers {ok, value} or {ok: false, error}. */
export function onMessage(msg, sender, sendResponse) {
  const op = fromExtensionPage(sender) ? pageOps[msg?.op] : fromOurContentScript(sender) ? contentOps[msg?.op] : undefined;
  if (!Object.hasOwn(pageOps, msg?.op ?? '') && !Object.hasOwn(contentOps, msg?.op ?? '')) return false;
  if (!op) {
    sendResponse({ ok: false, error: { title: 'Refused', message: 'Not allowed from here.' } });
    return false;
  }
  Promise.resolve(op(msg, sender)).then(
    (value) => sendResponse({ ok: true, value }),
    async (err) => {
      if (msg.op === 'submitReason' || msg.op === 'signIn') await notifyError(err);
      sendResponse({ ok: false, error: { title: err.title ?? 'actas failed', message: err.message, kind: err.kind } });
    },
  );
  return true; // answers later
}
