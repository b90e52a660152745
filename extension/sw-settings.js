// Settings: enterprise policy (storage.managed) wins over what the admin set in the
// options page (storage.sync), which wins over the defaults. Nothing here is secret.

import { checkSettings } from './lib/settingscheck.js';

export const OPEN_MODES = ['tab', 'incognito', 'container'];

export const DEFAULTS = {
  workerUrl: '',
  issuer: '',
  clientId: 'actas-extension',
  openMode: 'tab',
  sitePatterns: '',
  impersonationHosts: '', // extra hosts (host[:port], comma list) besides the issuer's
  sessionMinutes: 30, // the banner's time left; the impersonation is ended after it
};

export const KEYS = Object.keys(DEFAULTS);

async function managed() {
  try {
    return (await chrome.storage.managed.get(KEYS)) ?? {};
  } catch {
    return {}; // no policy, or a browser without storage.managed
  }
}

/** {values, locked}: the effective settings and the names IT has locked by policy. */
export async function loadSettings() {
  const [pushed, local] = await Promise.all([managed(), chrome.storage.sync.get(KEYS)]);
  const values = { ...DEFAULTS };
  const locked = [];
  for (const k of KEYS) {
    if (pushed[k] !== undefined && pushed[k] !== '') {
      values[k] = pushed[k];
      locked.push(k);
    } else if (local[k] !== undefined && local[k] !== '') {
      values[k] = local[k];
    }
  }
  if (!OPEN_MODES.includes(values.openMode)) values.openMode = 'tab';
  values.sessionMinutes = Math.min(Math.max(Number(values.sessionMinutes) || 30, 1), 480);
  return { values, locked };
}

/** The effective settings only. */
export async function settings() {
  return (await loadSettings()).values;
}

/**
 * Saves what the admin changed, except locked values; refuses (saving nothing) when a
 * value fails the checks every later use would apply.
 */
export async function saveSettings(changes) {
  const { locked } = await loadSettings();
  const toCheck = {};
  for (const k of KEYS) if (k in changes && !locked.includes(k)) toCheck[k] = changes[k];
  const { values, errors } = checkSettings(toCheck);
  if (errors.length) throw new Error(errors.map((e) => e.message).join('. '));
  await chrome.storage.sync.set(values);
}
