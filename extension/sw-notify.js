// Notifications, and the last one kept in storage.session so the popup can show it.
// Messages never contain tokens: they are built from problem details and settings.

const ICON = 'icons/icon-128.png';
// A notice is about one attempt: after this long it says nothing about the present.
export const NOTICE_TTL_MS = 5 * 60_000;

/** Shows a notification and remembers it as the last notice. */
export async function notify(title, message, kind = 'info') {
  const at = Date.now();
  const notice = { title, message, kind, at: new Date(at).toISOString(), expiresAt: at + NOTICE_TTL_MS };
  await chrome.storage.session.set({ lastNotice: notice });
  try {
    await chrome.notifications.create(`actas-${Date.now()}`, {
      type: 'basic',
      iconUrl: chrome.runtime.getURL(ICON),
      title,
      message,
    });
  } catch {
    // notifications turned off for the browser: the popup still shows the notice
  }
  return notice;
}

/** Notifies about an error (an ActasError or anything else). */
export function notifyError(err) {
  return notify(err.title ?? 'actas failed', err.message ?? String(err), err.kind ?? 'error');
}

/** The last notice while it is fresh, else null. */
export async function currentNotice() {
  const { lastNotice } = await chrome.storage.session.get('lastNotice');
  return lastNotice && lastNotice.expiresAt > Date.now() ? lastNotice : null;
}

/** Forgets the last notice (a new sign-in or a sign-out: it was about someone's attempt). */
export async function clearNotice() {
  await chrome.storage.session.remove('lastNotice');
}
