// Manual sign-in, as a person does it: Chromium with the extension, the popup's
// "Sign in with Bare.ID", and clicks on the emulator's real login page (no automatic
// sign-in), first Cancel, then an admin. The login form must reach the emulator with
// its own Origin, or the emulator refuses it as posted from another site.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';

import { EXTENSION_ORIGIN, launchExtension, test } from './browser.mjs';
import { startStack } from './harness.mjs';

const CLICK_TIMEOUT_MS = 15_000;

let stack;
let browser;

before(async () => {
  stack = await startStack({ vars: { ACTAS_ALLOWED_ORIGINS: EXTENSION_ORIGIN } });
  browser = await launchExtension();
  const page = await browser.extensionPage('pages/options.html');
  await page.waitFor('#fields:enabled');
  await page.fill('#workerUrl', stack.workerURL);
  await page.fill('#issuer', `${stack.emulatorURL}/realms/demo`);
  await page.click('button[type=submit]');
  await page.waitForText('Saved.', '#saved');
  await page.close();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

/** The login page that launchWebAuthFlow opened for the popup's sign-in. */
async function loginPage() {
  const auth = `${stack.emulatorURL}/realms/demo/protocol/openid-connect/auth`;
  const page = await browser.waitForPage((u) => u.startsWith(auth), CLICK_TIMEOUT_MS);
  await page.waitForText('Sign in to', 'h1', CLICK_TIMEOUT_MS);
  return page;
}

/** Every answer of the emulator's login action, as the browser received it. */
function loginActions() {
  const seen = [];
  browser.ctx.on('response', (res) => {
    if (res.url().endsWith('/realms/demo/login-actions/authenticate')) seen.push(res.status());
  });
  return seen;
}

describe('manual sign-in through the login page', () => {
  let popup;
  let actions;

  before(async () => {
    actions = loginActions();
    popup = await browser.extensionPage('pages/popup.html');
  });

  test('Cancel returns to the extension, which says the sign-in was refused', async () => {
    await popup.click('#sign-in');
    const login = await loginPage();
    assert.equal(await login.text('button[name=cancel]'), 'Cancel');
    await login.click('button[name=cancel]');
    await popup.waitForText('access_denied', '#error', CLICK_TIMEOUT_MS); // the popup's error line (role=alert)
    assert.deepEqual(actions, [302], 'the login action redirected back (no 403)');
    await popup.waitFor('#sign-in');
  });

  test('choosing Ada signs the extension in as her', async () => {
    await popup.click('#sign-in');
    const login = await loginPage();
    const ada = 'button[name=username][value=ada]';
    assert.equal(await login.text(ada), 'Sign in as Ada Support');
    await login.click(ada);
    await popup.waitFor('#actor', CLICK_TIMEOUT_MS);
    assert.equal(await popup.text('#actor'), 'ada@example.com');
    assert.deepEqual(actions, [302, 302]);
    const me = await browser.bg(async () => (await chrome.storage.session.get('me')).me);
    assert.deepEqual(me.clients.map((c) => c.clientId), ['crm', 'wiki']);
  });
});
