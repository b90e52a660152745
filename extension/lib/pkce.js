// PKCE (RFC 7636, S256) and random state values, with Web Crypto only.

function base64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/** n random bytes as base64url. */
export function randomString(n = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(n)));
}

/** A code verifier (43 characters from 32 random bytes) and its S256 challenge. */
export async function pkcePair() {
  const verifier = randomString(32);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return { verifier, challenge: base64url(new Uint8Array(digest)) };
}
