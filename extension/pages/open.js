// The extension page in the chosen tab: takes the minted token from the service worker
// once (by the handoff id in the fragment, which is not the token), and POSTs it as a
// form, so it appears in no URL, history entry or Referer. GET only when the Worker
// says Bare.ID demands it.
import { call } from './common.js';

const status = document.getElementById('status');

async function main() {
  const id = location.hash.slice(1);
  // Replace this page's history entry: going back must not land here again.
  history.replaceState(null, '', location.pathname);
  const h = id ? await call('takeHandoff', { id }) : null;
  if (!h) {
    status.textContent = 'Nothing to open: this link was used already or expired. Right-click the user again.';
    return;
  }
  if (h.method === 'GET') {
    const u = new URL(h.url);
    u.searchParams.set(h.field, h.token);
    location.replace(u.href);
    return;
  }
  const form = document.createElement('form');
  form.method = 'POST';
  form.action = h.url;
  form.enctype = 'application/x-www-form-urlencoded';
  form.referrerPolicy = 'no-referrer';
  form.rel = 'noreferrer';
  const input = document.createElement('input');
  input.type = 'hidden';
  input.name = h.field;
  input.value = h.token;
  form.append(input);
  document.body.append(form);
  form.submit();
}

main().catch((err) => {
  status.textContent = `Could not open the application: ${err.message}`;
});
