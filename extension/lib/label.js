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
