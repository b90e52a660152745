// What differs between the browsers actas runs in, decided here and nowhere else.
// Firefox runs sw.js as an event page (background.scripts) where Chromium runs it as a
// service worker, and gives the click's link text (OnClickData.linkText); both work
// through the same code. Its `chrome.*` namespace returns promises like Chromium's.

/**
 * Firefox's container API (contextualIdentities), or null: Chromium has none, and
 * Firefox has it only with the permission the Firefox package carries.
 */
export function containers() {
  return chrome.contextualIdentities ?? globalThis.browser?.contextualIdentities ?? null;
}
