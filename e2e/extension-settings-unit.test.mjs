// Unit tests for the options page's checks (extension/lib/settingscheck.js): the same
// messages as the rest of the extension, nothing saved that a later call would refuse.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { checkSettings } from '../extension/lib/settingscheck.js';

const good = {
  workerUrl: 'https://actas.example.workers.dev/',
  issuer: 'https://example.bare.id/realms/support',
  clientId: ' actas-extension ',
  openMode: 'tab',
  sessionMinutes: '30',
  impersonationHosts: 'login.example.com, id.example:8443 ,[::1]:8790',
  sitePatterns: '# tickets\ntickets.example.com /customers/([0-9a-f-]{36})',
};

describe('checkSettings', () => {
  test('good values, normalised', () => {
    const { values, errors } = checkSettings(good);
    assert.deepEqual(errors, []);
    assert.equal(values.workerUrl, 'https://actas.example.workers.dev');
    assert.equal(values.clientId, 'actas-extension');
    assert.equal(values.sessionMinutes, 30);
    assert.equal(values.impersonationHosts, 'login.example.com,id.example:8443,[::1]:8790');
    assert.equal(values.openMode, 'tab');
  });

  test('only the keys given are checked', () => {
    assert.deepEqual(checkSettings({ openMode: 'incognito' }), { values: { openMode: 'incognito' }, errors: [] });
  });

  const cases = [
    ['workerUrl', 'http://actas.example', 'The Worker URL must use https (http only on 127.0.0.1 or localhost)'],
    ['workerUrl', 'https://actas.example/?x=1', 'The Worker URL may not carry user-info, a query or a fragment'],
    ['workerUrl', 'https://actas.example/#top', 'The Worker URL may not carry user-info, a query or a fragment'],
    ['workerUrl', 'actas.example', 'The Worker URL is not a URL'],
    ['workerUrl', '  ', 'The Worker URL is required'],
    ['issuer', 'https://u:p@example.bare.id/realms/x', 'The issuer may not carry user-info, a query or a fragment'],
    ['issuer', 'http://example.bare.id/realms/x', 'The issuer must use https (http only on 127.0.0.1 or localhost)'],
    ['clientId', '', 'The sign-in client id is required'],
    ['clientId', 'actas extension', 'The sign-in client id is required'],
    ['sessionMinutes', '0', 'The time box must be a whole number of minutes from 1 to 480'],
    ['sessionMinutes', '481', 'The time box must be'],
    ['sessionMinutes', '2.5', 'The time box must be'],
    ['impersonationHosts', 'login.example.com/x', 'Extra impersonation hosts: "login.example.com/x" is not a host'],
    ['impersonationHosts', 'https://login.example.com', 'is not a host'],
    ['sitePatterns', 'x.example ([', 'Per-site user patterns, line 1:'],
  ];
  for (const [field, value, message] of cases) {
    test(`${field} ${JSON.stringify(value)} is refused`, () => {
      const { errors } = checkSettings({ ...good, [field]: value });
      assert.equal(errors.length, 1, JSON.stringify(errors));
      assert.equal(errors[0].field, field);
      assert.ok(errors[0].message.includes(message), errors[0].message);
    });
  }

  test('http on loopback is the development exception', () => {
    const { errors } = checkSettings({ workerUrl: 'http://127.0.0.1:8787', issuer: 'http://localhost:8790/realms/demo' });
    assert.deepEqual(errors, []);
  });
});
