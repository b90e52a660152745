// Read-modify-write of one storage.session key at a time: every change to a key goes
// through that key's queue, so that concurrent listeners (an alarm's End, a tab's first
// load, a new impersonation, a reason window's submit) cannot overwrite each other.

const queues = new Map(); // key -> promise of the last change

/**
 * Runs fn(value) alone for `key` (value defaults to {}), then stores the value, unless
 * fn returns {write: false}. Resolves with fn's {value}.
 */
export function updateSession(key, fn) {
  const run = (queues.get(key) ?? Promise.resolve()).then(async () => {
    const value = (await chrome.storage.session.get(key))[key] ?? {};
    const res = await fn(value);
    if (res?.write !== false) await chrome.storage.session.set({ [key]: value });
    return res?.value;
  });
  queues.set(key, run.catch(() => {}));
  return run;
}
