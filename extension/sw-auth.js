// Admin sign-in at the Bare.ID realm: Authorization Code with PKCE (RFC 7636) through
// identity.launchWebAuthFlow, silent refresh with rotating refresh tokens. Tokens live
// in storage.session only (memory, trusted extension contexts), never local or sync.

import { pkcePair, randomString } from './lib/pkce.js';
import { ActasError } from './lib/problem.js';
import { checkBaseUrl } from './lib/urlcheck.js';
import { settings } from './sw-settings.js';

const SKEW_MS = 30_000; // refresh this long before the access token expires
const SCOPE = 'openid profile email';

async function discover(issuer) {
  let res;
  try {
    res = await fetch(`${issuer}/.well-known/openid-configuration`);
  } catch {
    throw new ActasError('issuer-unreachable', 'Bare.ID unreachable', `Could not reach the issuer ${issuer}.`);
  }
  if (!res.ok) throw new ActasError('issuer-failed', 'Bare.ID refused', `The issuer's discovery answered ${res.status}.`);
  const d = await res.json();
  if (d.issuer !== issuer) throw new ActasError('issuer-mismatch', 'Wrong issuer', `Discovery names ${d.issuer}, not ${issuer}.`);
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
