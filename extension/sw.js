// actas service worker (Firefox: background script). It only wires listeners to the
// modules that own each concern; state lives in storage.session, settings in
// storage.sync and storage.managed.

import { onMenuClick } from './sw-flow.js';
import { buildMenus, refreshProfile } from './sw-menu.js';
import { onMessage } from './sw-messages.js';
import { notifyError } from './sw-notify.js';
import { end, onAlarm as onSessionAlarm, onTabRemoved, onTabUpdated } from './sw-sessions.js';
import { signIn, signOut } from './sw-auth.js';

const PROFILE_ALARM = 'actas-refresh-profile';
const PROFILE_EVERY_MINUTES = 15; // applications the Worker offers change rarely

async function refreshQuietly() {
  try {
    await refreshProfile();
  } catch (err) {
    if (err.kind === 'signin-expired' || err.kind === 'signed-out') {
      await buildMenus();
      await notifyError(err);
    }
    // otherwise keep the menu we have; the next click reports the problem
  }
}

chrome.runtime.onInstalled.addListener(() => {
  chrome.alarms.create(PROFILE_ALARM, { periodInMinutes: PROFILE_EVERY_MINUTES });
  void buildMenus();
});
chrome.runtime.onStartup.addListener(() => void buildMenus());
chrome.contextMenus.onClicked.addListener((info, tab) => void onMenuClick(info, tab));
chrome.runtime.onMessage.addListener(onMessage);
chrome.tabs.onUpdated.addListener((tabId, change, tab) => void onTabUpdated(tabId, change, tab));
chrome.tabs.onRemoved.addListener((tabId) => void onTabRemoved(tabId));
chrome.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name === PROFILE_ALARM) void refreshQuietly();
  else void onSessionAlarm(alarm);
});

// The same functions the listeners call, for the end-to-end tests to drive through
// this worker (`evaluate`); nothing here behaves differently for them.
globalThis.actas = { onMenuClick, signIn, signOut, refreshProfile, end };
