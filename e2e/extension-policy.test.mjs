// Enterprise policy in Chromium, end to end: Debian's Chromium reads the policy file
// IT installs (the Terraform module's extension_policy_chrome shape,
// {"3rdparty": {"extensions": {ID: settings}}}) from /etc/chromium/policies/managed/,
// here from a private copy of /etc/chromium in Chromium's own mount namespace
// (browser.mjs). The policy names the test stack's Worker and issuer; the admin's own
// stored settings name a decoy on loopback, which must never be called: the options
// page shows the policy's values locked, Save cannot change them, and sign-in and a
// mint from the context menu go where the policy says. Needs root (unshare, mount);
// without it the suite skips itself and says why.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe } from 'node:test';

import { EXTENSION_ID, EXTENSION_ORIGIN, extensionIdFromKey, launchExtension, policyUnsupported, test } from './browser.mjs';
import { REASON, active, alice, auditRecord, go, menuClick, reasonWindow, signIn } from './extension-flows.mjs';
import { root, startStack } from './harness.mjs';

// ACTAS_E2E_ONLY=chromium (or policy, ...: comma list) runs only the suites whose names
// contain one of the words, as in extension.test.mjs.
const NAME = 'Chromium: enterprise policy (storage.managed)';
const ONLY = (process.env.ACTAS_E2E_ONLY ?? '').toLowerCase().split(',').filter(Boolean);
const notSelected = ONLY.length > 0 && !ONLY.some((w) => NAME.toLowerCase().includes(w));
const unsupported = notSelected || process.getuid?.() === 0 ? null : await policyUnsupported();
const skip = notSelected || (unsupported ? `Chromium policy needs root here: ${unsupported}` : false);

const t = {}; // {stack, auditorToken, b}: what the shared flows use
const decoy = { requests: 0 }; // the admin's own (stored) Worker and issuer

describe(NAME, { skip }, () => {
  before(async () => {
    t.stack = await startStack({ vars: { ACTAS_ALLOWED_ORIGINS: EXTENSION_ORIGIN, ACTAS_REASON_REQUIRED: 'true' } });
    await t.stack.emulator('PUT', '/_control/login', { autoLogin: 'ada' });
    t.auditorToken = (await t.stack.emulator('POST', '/_control/tokens', { username: 'grace' })).access_token;
    decoy.server = http.createServer((req, res) => {
      decoy.requests++;
      res.writeHead(500).end();
    });
    await new Promise((r) => decoy.server.listen(0, '127.0.0.1', r));
    decoy.url = `http://127.0.0.1:${decoy.server.address().port}`;
    // What deploy/terraform/outputs.tf writes for this Worker and issuer.
    const settings = { workerUrl: t.stack.workerURL, issuer: `${t.stack.emulatorURL}/realms/demo`, clientId: 'actas-extension', openMode: 'tab' };
    t.b = await launchExtension({ policy: { '3rdparty': { extensions: { [EXTENSION_ID]: settings } } } });
  });
  after(async () => {
    await t.b?.close();
    decoy.server?.close();
    await t.stack?.stop();
  });

  test('the policy\'s id is the one Chromium derives from the manifest key, and the Terraform default', async () => {
    const manifest = JSON.parse(await readFile(path.join(root, 'extension', 'manifest.json'), 'utf8'));
    assert.equal(extensionIdFromKey(manifest.key), EXTENSION_ID);
    assert.equal(t.b.sw.url(), `chrome-extension://${EXTENSION_ID}/sw.js`, 'the running extension has that id');
    const variables = await readFile(path.join(root, 'deploy', 'terraform', 'variables.tf'), 'utf8');
    assert.equal(variables.match(/chrome_id\s*=\s*optional\(string,\s*"([a-p]{32})"\)/)?.[1], EXTENSION_ID);
  });

  test('the admin\'s own stored Worker and issuer do not override the policy', async () => {
    // As if the admin had saved these before IT pushed the policy.
    await t.b.bg((s) => chrome.storage.sync.set(s), { workerUrl: decoy.url, issuer: `${decoy.url}/realms/demo`, openMode: 'incognito', sessionMinutes: 20 });
    const managed = await t.b.bg(() => chrome.storage.managed.get(null));
    assert.equal(managed.workerUrl, t.stack.workerURL, 'storage.managed holds the policy');
    const page = await t.b.extensionPage('pages/options.html');
    await page.waitFor('#fields:enabled');
    assert.equal(await page.value('#workerUrl'), t.stack.workerURL);
    assert.equal(await page.value('#issuer'), `${t.stack.emulatorURL}/realms/demo`);
    assert.equal(await page.value('#openMode'), 'tab');
    assert.equal(await page.value('#sessionMinutes'), '20', 'what the policy leaves open comes from the admin');
    const locked = await page.evaluate(() => ['workerUrl', 'issuer', 'clientId', 'openMode', 'sessionMinutes'].map((k) => document.getElementById(k).disabled));
    assert.deepEqual(locked, [true, true, true, true, false]);
    assert.match(await page.text('[data-lock="workerUrl"]'), /set by your organisation/);
    assert.match(await page.text('#managed-note'), /managed by your organisation/);

    // Save changes what is open and leaves the locked values in force.
    await page.fill('#sessionMinutes', '25');
    await page.click('button[type=submit]');
    await page.waitForText('Saved.', '#saved');
    await page.close();
    const stored = await t.b.bg(() => chrome.storage.sync.get(null));
    assert.equal(stored.sessionMinutes, 25);
    const again = await t.b.extensionPage('pages/options.html');
    await again.waitFor('#fields:enabled');
    assert.equal(await again.value('#workerUrl'), t.stack.workerURL);
    assert.equal(await again.value('#sessionMinutes'), '25');
    await again.close();
  });

  test('sign-in and a mint from the context menu go to the Worker and issuer the policy names', async () => {
    const b = t.b;
    assert.equal(await signIn(b), 'ada@example.com');
    const adminPage = await b.newTab(`${t.stack.emulatorURL}/admin`);
    const started = await menuClick(b, adminPage, alice.uuid);
    assert.equal(started.outcome, 'reason');
    const win = await reasonWindow(b, started.requestId);
    assert.equal(await win.value('#mode'), 'tab', 'the policy\'s open mode, not the admin\'s');
    await win.fill('#reason', REASON);
    await go(win);
    const app = await b.waitForPage((u) => u === `${t.stack.emulatorURL}/apps/crm/`);
    await app.waitForText('Signed in as Alice Archer');
    const [imp] = await active(b);
    const rec = await auditRecord(t, imp.id);
    assert.equal(rec.actor, 'ada@example.com');
    assert.equal(rec.userUuid, alice.uuid);
    assert.equal(rec.outcome, 'issued');
    assert.equal(decoy.requests, 0, 'nothing went to the admin\'s stored Worker or issuer');
    // End signs the tab out at Bare.ID (the tab stays; the browser closes with the suite).
    assert.deepEqual(await b.bg((id) => globalThis.actas.end(id), imp.id), { ended: true, recorded: true });
    await app.waitForURL(/\/protocol\/openid-connect\/logout/);
    await adminPage.close();
  });
});
