// The context menu: "Act as this user ▸" with one entry per application the Worker
// offers, plus "Act as… (choose)" when there are many. Menus are rebuilt from
// storage.session (the profile fetched at sign-in), never from worker globals.

import { getClients, getMe } from './sw-api.js';
import { isSignedIn, signIn, signOut } from './sw-auth.js';
import { clearNotice } from './sw-notify.js';

export const MENU_ROOT = 'actas';
export const MENU_SIGN_IN = 'actas:sign-in';
export const MENU_CHOOSE = 'actas:choose';
export const MENU_CLIENT = 'actas:client:'; // + clientId
const CONTEXTS = ['link', 'selection', 'page'];
const MAX_DIRECT = 8; // beyond this many applications the submenu shows only "choose"

function create(props) {
  return new Promise((resolve) => {
    chrome.contextMenus.create(props, () => {
      void chrome.runtime.lastError; // a duplicate id during a racing rebuild is harmless
      resolve();
    });
  });
}

/** Rebuilds the menu from what is stored. */
export async function buildMenus() {
  await chrome.contextMenus.removeAll();
  const { me } = await chrome.storage.session.get('me');
  if (!me) {
    await create({ id: MENU_SIGN_IN, title: 'actas: sign in to act as users…', contexts: CONTEXTS });
    return;
  }
  await create({ id: MENU_ROOT, title: 'Act as this user', contexts: CONTEXTS });
  const clients = me.clients ?? [];
  if (clients.length <= MAX_DIRECT) {
    for (const c of clients) {
      await create({ id: MENU_CLIENT + c.clientId, parentId: MENU_ROOT, title: `in ${c.name}`, contexts: CONTEXTS });
    }
  }
  if (clients.length > 1) {
    await create({ id: MENU_CHOOSE, parentId: MENU_ROOT, title: 'Act as… (choose)', contexts: CONTEXTS });
  }
}

/**
 * Fetches who the admin is and the applications they may choose, stores them in
 * storage.session and rebuilds the menu. Signed out: only the sign-in entry.
 */
export async function refreshProfile() {
  if (!(await isSignedIn())) {
    await chrome.storage.session.remove('me');
    return buildMenus();
  }
  const [me, clients] = await Promise.all([getMe(), getClients()]);
  await chrome.storage.session.set({
    me: {
      actor: me.actor,
      permissions: me.permissions ?? [],
      clients: clients.map(({ clientId, name }) => ({ clientId, name })),
      reasonRequired: Boolean(me.reasonRequired),
      reasonMinLength: me.reasonMinLength ?? 0,
      reasonPattern: me.reasonPattern ?? '',
      fetchedAt: new Date().toISOString(),
    },
  });
  await buildMenus();
}

/**
 * Signs the admin in and fetches what the Worker lets them do. A sign-in the Worker
 * refuses (or cannot confirm) is not kept: its tokens are dropped at once, so that
 * storage.session never holds tokens of an admin the popup does not show as signed in.
 */
export async function signInAndLoad() {
  await signIn({ interactive: true });
  try {
    await refreshProfile();
  } catch (err) {
    await signOut();
    await buildMenus();
    throw err;
  }
  await clearNotice(); // an earlier notice was about someone else's attempt
}
