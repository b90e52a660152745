// Checks on URLs before the extension sends anything to them.

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** True for loopback hosts, where plain http is allowed (local development). */
export function isLoopback(hostname) {
  return LOOPBACK.has(hostname);
}

/**
 * Parses a configured base URL (Worker, issuer): https, or http on loopback; no
 * user-info, query or fragment. Returns the URL without a trailing slash, or throws
 * an Error naming the setting.
 */
export function checkBaseUrl(value, name) {
  let u;
  try {
    u = new URL(String(value ?? '').trim());
  } catch {
    throw new Error(`${name} is not a URL`);
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && isLoopback(u.hostname))) {
    throw new Error(`${name} must use https (http only on 127.0.0.1 or localhost)`);
  }
  if (u.username || u.password || u.search || u.hash) {
    throw new Error(`${name} may not carry user-info, a query or a fragment`);
  }
  return u.href.replace(/\/+$/, '');
}

/**
 * Checks the impersonation URL the Worker returned, again, just before the browser
 * goes there: https (http only when the issuer itself is on loopback), a host in
 * `allowedHosts` (host with port, exact), no user-info and no fragment. Returns the
 * parsed URL or throws.
 */
export function checkImpersonationUrl(value, { allowedHosts, issuer }) {
  let u;
  try {
    u = new URL(value);
  } catch {
    throw new Error('The impersonation URL is not a URL');
  }
  const devLoopback = issuer && new URL(issuer).protocol === 'http:';
  const schemeOk = u.protocol === 'https:' || (devLoopback && u.protocol === 'http:' && isLoopback(u.hostname));
  if (!schemeOk) throw new Error(`The impersonation URL must use https, not ${u.protocol}`);
  if (u.username || u.password || u.hash) throw new Error('The impersonation URL carries user-info or a fragment');
  const hosts = (allowedHosts ?? []).map((h) => h.toLowerCase());
  if (!hosts.includes(u.host.toLowerCase())) {
    throw new Error(`The impersonation URL's host ${u.host} is not an allowed Bare.ID host`);
  }
  return u;
}

/**
 * The match pattern granting host access to a base URL's origin (`https://h/*`). It names
 * no port: Firefox's match patterns take none (a pattern with one matches nothing there).
 */
export function originPattern(base) {
  const u = new URL(base);
  return `${u.protocol}//${u.hostname}/*`;
}

/**
 * The realm URL an impersonation URL (a checked URL) belongs to
 * (`https://host/realms/NAME`), where its session is ended; the issuer's when the URL
 * has no /realms/ path.
 */
export function realmOf(url, issuer) {
  const m = /^(.*?\/realms\/[^/]+)\//.exec(url.pathname);
  return m ? `${url.origin}${m[1]}` : String(issuer).replace(/\/+$/, '');
}
