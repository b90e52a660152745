// Finding the user a right-click names: the UUID in the link, the selection or the page
// address, in that order, unless a per-site pattern says how that tool encodes users.
// When the first place holding a UUID holds several (/orgs/<org>/users/<user>) and no
// pattern decides, all of them are candidates: the admin chooses, actas never guesses.

/** Any RFC 4122-shaped UUID (any version), case-insensitive. */
export const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

/**
 * Parses per-site patterns, one per line: `HOST REGEX`, where HOST is a host name or
 * `*.example.com`, and REGEX has one capture group holding the UUID. Blank lines and
 * lines starting with `#` are skipped. Returns {patterns, errors}.
 */
export function parseSitePatterns(text) {
  const patterns = [];
  const errors = [];
  for (const [i, raw] of String(text ?? '').split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(\S+)\s+(.+)$/.exec(line);
    if (!m) {
      errors.push(`line ${i + 1}: expected "HOST REGEX"`);
      continue;
    }
    try {
      patterns.push({ host: m[1].toLowerCase(), re: new RegExp(m[2], 'i') });
    } catch (err) {
      errors.push(`line ${i + 1}: ${err.message}`);
    }
  }
  return { patterns, errors };
}

function hostMatches(pattern, host) {
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return pattern === host;
}

function hostOf(u) {
  try {
    return new URL(u).hostname.toLowerCase();
  } catch {
    return '';
  }
}

/** The distinct UUIDs in text, lower case, in order of appearance. */
export function allUuids(text) {
  const re = new RegExp(UUID_RE.source, 'gi');
  const exact = new RegExp(`^${UUID_RE.source}$`, 'i');
  const out = [];
  for (const m of String(text ?? '').matchAll(re)) {
    // not cut out of a longer run of hex digits (that is no UUID)
    const before = m.index > 0 ? m.input[m.index - 1] : '';
    const after = m.input[m.index + m[0].length] ?? '';
    if (/[0-9a-f]/i.test(before) || /[0-9a-f]/i.test(after)) continue;
    const u = m[0].toLowerCase();
    if (exact.test(u) && !out.includes(u)) out.push(u);
  }
  return out;
}

function firstUuid(text, re) {
  if (!text) return null;
  const m = (re ?? UUID_RE).exec(String(text));
  if (!m) return null;
  const candidate = re ? m[1] ?? m[0] : m[0];
  const exact = new RegExp(`^${UUID_RE.source}$`, 'i');
  return exact.test(candidate) ? candidate.toLowerCase() : null;
}

/**
 * The user UUID a context-menu click names. `click` holds linkUrl, selectionText and
 * pageUrl (any may be missing). Site patterns for the page's host are tried on each
 * source before the generic UUID search. Returns {uuid, source, candidates}: candidates
 * are the UUIDs to choose from, [uuid] when one is certain; with several, uuid is null
 * and the admin picks one. Nothing found: {uuid: null, looked} with the places searched,
 * for the notification.
 */
export function extractUserUuid(click, sitePatterns = []) {
  const host = hostOf(click.pageUrl);
  const site = sitePatterns.filter((p) => hostMatches(p.host, host));
  const sources = [
    ['link', click.linkUrl],
    ['selection', click.selectionText],
    ['page', click.pageUrl],
  ];
  for (const [source, text] of sources) {
    if (!text) continue;
    for (const p of site) {
      const uuid = firstUuid(text, p.re);
      if (uuid) return { uuid, source, candidates: [uuid] };
    }
    const candidates = allUuids(text);
    if (candidates.length === 1) return { uuid: candidates[0], source, candidates };
    if (candidates.length > 1) return { uuid: null, source, candidates };
  }
  return { uuid: null, looked: sources.filter(([, t]) => t).map(([s]) => s) };
}
