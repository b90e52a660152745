// The name an admin tool shows for a user, next to the link actas took the UUID from.
// It comes from the page, so it is a hint for the admin's eyes only: shown as text,
// always next to the UUID, never used to decide anything.

const MAX = 80;

/** A clean label from link text, or '' when there is nothing more than the UUID. */
export function cleanLabel(text, uuid) {
  // Control and format characters (zero-width, bidi marks and overrides, soft hyphen)
  // and the invisible Hangul fillers would let a page disguise a name.
  const t = String(text ?? '')
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u115f\u1160\u3164\uffa0]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (!t || t.toLowerCase() === String(uuid).toLowerCase()) return '';
  return t.length > MAX ? `${t.slice(0, MAX - 1)}…` : t;
}

/**
 * Runs in the admin tool's page (isolated world): the texts of the links to `href`, so
 * that right-clicking a user's UUID link still finds the name link next to it.
 * Self-contained, as executeScript requires.
 */
export function linkTexts(href) {
  const out = [];
  for (const a of document.querySelectorAll('a[href]')) {
    if (a.href === href) out.push(a.textContent ?? '');
    if (out.length >= 10) break;
  }
  return out;
}

/**
 * Runs in the admin tool's page (isolated world) when a click names several UUIDs: for
 * each, the texts of the page's links that hold that UUID and no other, which is what
 * the page says about it. A link holding several UUIDs says nothing certain about any
 * one of them, so its text is never taken. Self-contained, as executeScript requires.
 */
export function uuidLinkTexts(uuids) {
  const re = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
  const out = Object.fromEntries(uuids.map((u) => [u, []]));
  for (const a of document.querySelectorAll('a[href]')) {
    const found = new Set((a.href.match(re) ?? []).map((u) => u.toLowerCase()));
    if (found.size !== 1) continue;
    const [u] = found;
    if (out[u] && out[u].length < 10) out[u].push(a.textContent ?? '');
  }
  return out;
}
