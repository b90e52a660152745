// Notifications, and the last one kept in storage.session so the popup can show it.
// Messages never contain tokens: they are built from problem details and settings.

const ICON = 'icons/icon-128.png';

/** Shows a notification and remembers it as the last notice. */
export async function notify(title, message, kind = 'info') {
  const notice = { title, message, kind, at: new Date().toISOString() };
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
