// Shared by the extension pages: one way to call the service worker.

/** Sends {op, ...args} to the service worker; resolves with its value or throws. */
export async function call(op, args = {}) {
  const res = await chrome.runtime.sendMessage({ op, ...args });
  if (!res?.ok) {
    const err = new Error(res?.error?.message ?? 'No answer from the extension.');
    err.title = res?.error?.title;
    err.kind = res?.error?.kind;
    throw err;
  }
  return res.value;
}

/** Shortens a UUID for display: the first block and the last four characters. */
export function shortUuid(uuid) {
  return uuid ? `${uuid.slice(0, 8)}…${uuid.slice(-4)}` : '';
}

/** "12 min" / "45 s" from milliseconds. */
export function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return s >= 120 ? `${Math.round(s / 60)} min` : `${s} s`;
}

/** Creates an element with text and attributes (never innerHTML). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}
