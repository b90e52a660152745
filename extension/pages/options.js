// The options page: settings (locked when IT pushes them by policy), host access for the
// configured Worker and issuer (asked at run time), and what the Worker admin needs.
import { checkSettings } from '../lib/settingscheck.js';
import { containers } from '../lib/platform.js';
import { originPattern } from '../lib/urlcheck.js';
import { call } from './common.js';

const FIELDS = ['workerUrl', 'issuer', 'clientId', 'openMode', 'sessionMinutes', 'impersonationHosts', 'sitePatterns'];
const $ = (id) => document.getElementById(id);
let granted = []; // host access the extension holds, read at load so Save can ask at once

async function showIncognito() {
  const allowed = await chrome.extension.isAllowedIncognitoAccess();
  $('incognito').textContent = allowed
    ? 'allowed: actas can open impersonations in a private window.'
    : 'not allowed. To use private windows, open the browser\'s extension page, choose actas → Details, and turn on "Allow in Incognito" (Firefox: "Run in Private Windows").';
  $('mode-note').textContent =
    $('openMode').value === 'tab'
      ? 'A new tab shares this profile\'s cookies: when the application signs in at the same Bare.ID realm you use, the impersonation replaces your own Bare.ID session in this profile, and End signs this profile out of Bare.ID.'
      : $('openMode').value === 'incognito' && !allowed
        ? 'Private windows need "Allow in Incognito" (see below).'
        : '';
}

async function load() {
  granted = (await chrome.permissions.getAll()).origins ?? [];
  const { values, locked } = await call('loadSettings');
  for (const k of FIELDS) {
    $(k).value = values[k] ?? '';
    $(k).disabled = locked.includes(k);
    const lock = document.querySelector(`[data-lock="${k}"]`);
    lock.textContent = locked.includes(k) ? '🔒 set by your organisation' : '';
  }
  $('managed-note').textContent = locked.length ? 'Some settings are managed by your organisation and cannot be changed here.' : '';
  if (!containers()) {
    $('openMode').querySelector('[value=container]').disabled = true;
  }
  $('origin').textContent = new URL(chrome.runtime.getURL('')).origin;
  $('redirect').textContent = chrome.identity.getRedirectURL('oidc');
  await showIncognito();
  $('fields').disabled = false; // editable only once the current values are shown
}

$('openMode').addEventListener('change', showIncognito);
$('form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('error').textContent = '';
  $('saved').textContent = '';
  const changes = {};
  for (const k of FIELDS) if (!$(k).disabled) changes[k] = $(k).value;
  // Checked before anything else, and without waiting, so that the permission prompt
  // below still counts as part of the click.
  const { values, errors } = checkSettings(changes);
  for (const k of FIELDS) $(k).removeAttribute('aria-invalid');
  if (errors.length) {
    for (const e of errors) $(e.field).setAttribute('aria-invalid', 'true');
    $('error').textContent = errors.map((e) => e.message).join('. ') + '.';
    return;
  }
  const effective = (k) => values[k] ?? $(k).value.trim();
  try {
    const missing = [];
    for (const k of ['workerUrl', 'issuer']) {
      const o = originPattern(effective(k));
      if (!granted.includes(o) && !missing.includes(o)) missing.push(o);
    }
    // Asked for first thing in the click, which is what lets the browser show its prompt.
    if (missing.length && !(await chrome.permissions.request({ origins: missing }))) {
      throw new Error('Without access to the Worker and the issuer, actas cannot sign in or call the Worker.');
    }
    granted.push(...missing);
    if ('issuer' in values || 'clientId' in values) {
      $('saved').textContent = 'Checking the issuer…';
      await call('checkSignInClient', { issuer: effective('issuer'), clientId: effective('clientId') });
    }
    await call('saveSettings', { changes: values });
    $('saved').textContent = 'Saved.';
    await call('refreshProfile').catch(() => {});
  } catch (err) {
    $('saved').textContent = '';
    $('error').textContent = err.message;
  }
});

load().catch((err) => ($('error').textContent = err.message));
