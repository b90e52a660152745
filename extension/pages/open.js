// The extension page in the chosen tab: takes the minted token from the service worker
// once (by the handoff id in the fragment, which is not the token) and sends it to
// Bare.ID with lib/formpost.js.
import { submitImpersonation } from '../lib/formpost.js';
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
  submitImpersonation(h);
}

main().catch((err) => {
  status.textContent = `Could not open the application: ${err.message}`;
});
