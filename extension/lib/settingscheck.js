// Checks on the options page's values before they are saved, with the messages the rest
// of the extension uses for the same settings (lib/urlcheck.js), so that nothing is saved
// that every later call would refuse.

import { checkBaseUrl } from './urlcheck.js';
import { parseSitePatterns } from './uuid.js';

export const SESSION_MINUTES_MIN = 1;
export const SESSION_MINUTES_MAX = 480; // a working day: longer is no time box

// An OAuth client id as Keycloak accepts one: printable ASCII without spaces.
const CLIENT_ID_RE = /^[\x21-\x7e]{1,255}$/;
// host or host:port, a DNS name or an IPv4/bracketed IPv6 address, as in URL.host.
const HOST_RE = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

const NAMES = {
  workerUrl: 'The Worker URL',
  issuer: 'The issuer',
};

/**
 * Checks the settings in `changes` (only the keys present). Returns {values, errors}:
 * the values to save (base URLs without a trailing slash, trimmed text) and one
 * {field, message} per problem.
 */
export function checkSettings(changes) {
  const values = { ...changes };
  const errors = [];
  const fail = (field, message) => errors.push({ field, message });
  for (const k of ['workerUrl', 'issuer']) {
    if (!(k in changes)) continue;
    if (!String(changes[k] ?? '').trim()) {
      fail(k, `${NAMES[k]} is required`);
      continue;
    }
    try {
      values[k] = checkBaseUrl(changes[k], NAMES[k]);
    } catch (err) {
      fail(k, err.message);
    }
  }
  if ('clientId' in changes) {
    values.clientId = String(changes.clientId ?? '').trim();
    if (!CLIENT_ID_RE.test(values.clientId)) {
      fail('clientId', 'The sign-in client id is required: printable characters, no spaces (e.g. actas-extension)');
    }
  }
  if ('sessionMinutes' in changes) {
    const n = Number(changes.sessionMinutes);
    if (!Number.isInteger(n) || n < SESSION_MINUTES_MIN || n > SESSION_MINUTES_MAX) {
      fail('sessionMinutes', `The time box must be a whole number of minutes from ${SESSION_MINUTES_MIN} to ${SESSION_MINUTES_MAX}`);
    } else {
      values.sessionMinutes = n;
    }
  }
  if ('impersonationHosts' in changes) {
    const hosts = String(changes.impersonationHosts ?? '').split(',').map((h) => h.trim()).filter(Boolean);
    const bad = hosts.filter((h) => !HOST_RE.test(h));
    if (bad.length) {
      fail('impersonationHosts', `Extra impersonation hosts: ${bad.map((h) => `"${h}"`).join(', ')} is not a host or host:port (no scheme, no path)`);
    }
    values.impersonationHosts = hosts.join(',');
  }
  if ('sitePatterns' in changes) {
    const { errors: bad } = parseSitePatterns(changes.sitePatterns);
    for (const e of bad) fail('sitePatterns', `Per-site user patterns, ${e}`);
  }
  return { values, errors };
}
