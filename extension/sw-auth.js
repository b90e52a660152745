// Admin sign-in at the Bare.ID realm: Authorization Code with PKCE (RFC 7636) through
// identity.launchWebAuthFlow, silent refresh with rotating refresh tokens. Tokens live
// in storage.session only (memory, trusted extension contexts), never local or sync.

import { pkcePair, randomString } from './lib/pkce.js';
import { ActasError } from './lib/problem.js';
import { checkBaseUrl } from './lib/urlcheck.js';
import { settings } from './sw-settings.js';

const SKEW_MS = 30_000; // refresh this long before the access token expires
const SCOPE = 'openid profile email';

const DISCOVERY_TIMEOUT_MS = 15_000;

async function discover(issuer) {
  const where = `${issuer}/.well-known/openid-configuration`;
  let res;
  try {
    res = await fetch(where, { credentials: 'omit', cache: 'no-store', signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS) });
  } catch {
    throw new ActasError('issuer-unreachable', 'Bare.ID unreachable', `Could not reach the issuer ${issuer}.`);
  }
  if (!res.ok) {
    throw new ActasError('issuer-failed', 'Bare.ID refused', `The issuer's discovery document ${where} answered ${res.status}: check the issuer (the realm URL, e.g. https://example.bare.id/realms/support).`);
  }
  const d = await res.json().catch(() => null);
  if (!d || typeof d !== 'object') {
    throw new ActasError('issuer-failed', 'Not a Bare.ID issuer', `${where} is not an OpenID Connect discovery document: check the issuer.`);
  }
  if (d.issuer !== issuer) throw new ActasError('issuer-mismatch', 'Wrong issuer', `Discovery names ${d.issuer}, not ${issuer}.`);
  for (const k of ['authorization_endpoint', 'token_endpoint']) {
    if (!URL.canParse(d[k] ?? '')) throw new ActasError('issuer-failed', 'Not a Bare.ID issuer', `The issuer's discovery document has no ${k}.`);
  }
  return d;
}

async function tokenRequest(endpoint, form) {
  let res;
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    });
  } catch {
    throw new ActasError('issuer-unreachable', 'Bare.ID unreachable', 'Could not reach the token endpoint.');
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok || !body.access_token) {
    throw new ActasError('signin-expired', 'Sign in again', `Bare.ID refused the sign-in (${body.error ?? res.status}).`);
  }
  return body;
}

async function store(issuer, tokenEndpoint, body) {
  const auth = {
    issuer,
    tokenEndpoint,
    accessToken: body.access_token,
    refreshToken: body.refresh_token ?? null,
    idToken: body.id_token ?? null,
    expiresAt: Date.now() + (Number(body.expires_in) || 60) * 1000,
  };
  await chrome.storage.session.set({ auth });
  return auth;
}

/**
 * Runs the sign-in flow; resolves when tokens are stored. It first tries silently
 * (prompt=none: an existing Bare.ID session signs the admin in without a window), and
 * only when Bare.ID needs the admin (login_required and friends) shows the login page.
 */
export async function signIn({ interactive = true } = {}) {
  const s = await settings();
  const issuer = checkBaseUrl(s.issuer, 'The issuer');
  const d = await discover(issuer);
  try {
    return await authorize(s, issuer, d, false);
  } catch (err) {
    if (!interactive || err.kind !== 'signin-interaction') throw err;
  }
  return authorize(s, issuer, d, true);
}

const NEEDS_INTERACTION = new Set(['login_required', 'interaction_required', 'consent_required', 'account_selection_required']);

async function authorize(s, issuer, d, interactive) {
  const { verifier, challenge } = await pkcePair();
  const state = randomString(16);
  const redirectUri = chrome.identity.getRedirectURL('oidc');
  const url = new URL(d.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: s.clientId,
    redirect_uri: redirectUri,
    scope: SCOPE,
    state,
    nonce: randomString(16),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...(interactive ? {} : { prompt: 'none' }),
  }).toString();
  let back;
  try {
    back = new URL(await chrome.identity.launchWebAuthFlow({ url: url.href, interactive }));
  } catch (err) {
    if (!interactive) throw new ActasError('signin-interaction', 'Not signed in', err.message);
    throw new ActasError('signin-cancelled', 'Not signed in', `The sign-in did not finish: ${err.message}`);
  }
  const p = back.searchParams;
  if (p.get('state') !== state) throw new ActasError('signin-failed', 'Sign-in failed', 'The answer did not match the request.');
  if (p.get('iss') && p.get('iss') !== issuer) throw new ActasError('signin-failed', 'Sign-in failed', 'The answer came from another issuer.');
  if (p.get('error')) {
    const kind = NEEDS_INTERACTION.has(p.get('error')) ? 'signin-interaction' : 'signin-failed';
    throw new ActasError(kind, 'Sign-in failed', `Bare.ID answered ${p.get('error')}.`);
  }
  const body = await tokenRequest(d.token_endpoint, {
    grant_type: 'authorization_code',
    client_id: s.clientId,
    code: p.get('code') ?? '',
    redirect_uri: redirectUri,
    code_verifier: verifier,
  });
  await store(issuer, d.token_endpoint, body);
}

/**
 * Checks, before the options are saved, that `issuerValue` is an OpenID Connect issuer
 * and that its authorization endpoint accepts `clientId` with this extension's redirect
 * URI. It asks as a sign-in would, without cookies and with prompt=none: a known client
 * is redirected back (login_required, or a code nobody redeems), an unknown client or
 * redirect URI gets Keycloak's error page (400).
 */
export async function checkSignInClient(issuerValue, clientId) {
  const issuer = checkBaseUrl(issuerValue, 'The issuer');
  const d = await discover(issuer);
  const redirectUri = chrome.identity.getRedirectURL('oidc');
  const { challenge } = await pkcePair();
  const url = new URL(d.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    scope: SCOPE,
    state: randomString(16),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    prompt: 'none',
  }).toString();
  let res;
  try {
    res = await fetch(url.href, { redirect: 'manual', credentials: 'omit', cache: 'no-store', signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS) });
  } catch {
    throw new ActasError('issuer-unreachable', 'Bare.ID unreachable', `Could not reach the issuer's authorization endpoint ${url.origin}${url.pathname}.`);
  }
  if (res.type === 'opaqueredirect' || res.ok) return { issuer };
  if (res.status >= 400 && res.status < 500) {
    throw new ActasError(
      'client-not-accepted',
      'Sign-in client not accepted',
      `Bare.ID does not accept the sign-in client id "${clientId}" with this extension's sign-in redirect ${redirectUri}: check the client id, and that this client lists the redirect (shown below).`,
    );
  }
  throw new ActasError('issuer-failed', 'Bare.ID refused', `The issuer's authorization endpoint answered ${res.status}.`);
}

/** Forgets the tokens (and the profile fetched with them). */
export async function signOut() {
  await chrome.storage.session.remove(['auth', 'me']);
}

// One refresh at a time: refresh tokens rotate, and presenting a spent one revokes the
// whole family. This promise only deduplicates concurrent callers inside one worker life.
let refreshing = null;

async function refresh(auth) {
  const s = await settings();
  const body = await tokenRequest(auth.tokenEndpoint, {
    grant_type: 'refresh_token',
    client_id: s.clientId,
    refresh_token: auth.refreshToken,
  });
  return store(auth.issuer, auth.tokenEndpoint, body);
}

/**
 * A valid access token, refreshed silently when near expiry (or when `force`).
 * Throws ActasError kind `signed-out` or `signin-expired`.
 */
export async function accessToken({ force = false } = {}) {
  const { auth } = await chrome.storage.session.get('auth');
  if (!auth) throw new ActasError('signed-out', 'Sign in to actas', 'Open the actas toolbar button and sign in.');
  if (!force && auth.expiresAt - SKEW_MS > Date.now()) return auth.accessToken;
  if (!auth.refreshToken) {
    await signOut();
    throw new ActasError('signin-expired', 'Sign in again', 'Your actas sign-in has expired: sign in again from the toolbar button.');
  }
  refreshing ??= refresh(auth).finally(() => (refreshing = null));
  try {
    return (await refreshing).accessToken;
  } catch (err) {
    await signOut();
    throw new ActasError('signin-expired', 'Sign in again', `Your actas sign-in has expired: sign in again from the toolbar button. ${err.message}`);
  }
}

/** True when tokens are stored (they may still need a refresh). */
export async function isSignedIn() {
  return Boolean((await chrome.storage.session.get('auth')).auth);
}
