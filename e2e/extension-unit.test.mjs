// Unit tests for the extension's pure logic: UUID extraction, URL checks, PKCE,
// problem messages and the release manifest. They import the extension's own modules
// (plain ES modules).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import { extractUserUuid, parseSitePatterns } from '../extension/lib/uuid.js';
import { checkBaseUrl, checkImpersonationUrl, originPattern, realmOf } from '../extension/lib/urlcheck.js';
import { pkcePair, randomString } from '../extension/lib/pkce.js';
import { problemError, unreachableError } from '../extension/lib/problem.js';
import { cleanLabel } from '../extension/lib/label.js';
import { LOOPBACK, releaseManifest } from '../tools/release-manifest.mjs';

const A = 'c55d7ef7-1618-4ebe-941d-14dd61aa5d40';
const B = 'ddf6e29c-c191-4e27-9793-e67cfb2a85f2';

describe('extractUserUuid', () => {
  const cases = [
    ['link first', { linkUrl: `https://admin.example/users/${A}`, selectionText: B, pageUrl: `https://admin.example/u/${B}` }, A, 'link'],
    ['selection when the link has none', { linkUrl: 'https://admin.example/users', selectionText: `user ${B} here`, pageUrl: 'https://admin.example/' }, B, 'selection'],
    ['page address last', { pageUrl: `https://admin.example/users/${A.toUpperCase()}?tab=1` }, A, 'page'],
    ['query parameter', { linkUrl: `https://admin.example/show?id=${A}&x=1` }, A, 'link'],
  ];
  for (const [name, click, uuid, source] of cases) {
    test(name, () => assert.deepEqual(extractUserUuid(click), { uuid, source, candidates: [uuid] }));
  }

  test('several UUIDs: no guess, every one a candidate, in order, once each', () => {
    assert.deepEqual(extractUserUuid({ selectionText: `${B} and ${A} and ${B.toUpperCase()}` }), { uuid: null, source: 'selection', candidates: [B, A] });
    assert.deepEqual(extractUserUuid({ linkUrl: `https://admin.example/orgs/${B}/users/${A}`, selectionText: A }), {
      uuid: null,
      source: 'link',
      candidates: [B, A],
    });
    assert.deepEqual(extractUserUuid({ linkUrl: `https://admin.example/users/${A}?back=/users/${A}` }).candidates, [A], 'the same UUID twice is one');
  });

  test('nothing found says where it looked', () => {
    assert.deepEqual(extractUserUuid({ linkUrl: 'https://admin.example/users/42', pageUrl: 'https://admin.example/' }), {
      uuid: null,
      looked: ['link', 'page'],
    });
  });

  test('not a UUID: too short, no dashes, or embedded in a longer hex run', () => {
    assert.equal(extractUserUuid({ selectionText: 'c55d7ef7-1618-4ebe-941d-14dd61aa5d4' }).uuid, null);
    assert.equal(extractUserUuid({ selectionText: 'c55d7ef716184ebe941d14dd61aa5d40' }).uuid, null);
    assert.equal(extractUserUuid({ selectionText: `0${A}` }).uuid, null);
    assert.equal(extractUserUuid({ selectionText: `${A}f` }).uuid, null);
  });

  test('a site pattern wins on its host only', () => {
    const { patterns, errors } = parseSitePatterns(`# comment\n*.crm.example /customers/[^/]+/owner/([0-9a-f-]{36})\n`);
    assert.deepEqual(errors, []);
    const click = { linkUrl: `https://t.crm.example/customers/${B}/owner/${A}` };
    assert.equal(extractUserUuid({ ...click, pageUrl: 'https://t.crm.example/' }, patterns).uuid, A);
    assert.deepEqual(extractUserUuid({ ...click, pageUrl: 'https://other.example/' }, patterns).candidates, [B, A], 'elsewhere the admin chooses');
  });

  test('a site pattern whose group is not a UUID falls back to the generic search', () => {
    const { patterns } = parseSitePatterns('admin.example /u/(\\d+)');
    assert.equal(extractUserUuid({ linkUrl: `https://admin.example/u/12?x=${A}`, pageUrl: 'https://admin.example/' }, patterns).uuid, A);
  });

  test('bad pattern lines are reported, not thrown', () => {
    const { patterns, errors } = parseSitePatterns('onlyhost\nx.example ([');
    assert.equal(patterns.length, 0);
    assert.equal(errors.length, 2);
  });
});

describe('URL checks', () => {
  test('base URLs: https anywhere, http on loopback only, trailing slash dropped', () => {
    assert.equal(checkBaseUrl('https://actas.example/', 'x'), 'https://actas.example');
    assert.equal(checkBaseUrl('http://127.0.0.1:8787', 'x'), 'http://127.0.0.1:8787');
    assert.equal(checkBaseUrl('https://id.example/realms/demo/', 'x'), 'https://id.example/realms/demo');
    for (const bad of ['http://actas.example', 'ftp://x', 'not a url', 'https://u:p@x.example', 'https://x.example/?q=1', 'https://x.example/#f']) {
      assert.throws(() => checkBaseUrl(bad, 'The Worker URL'), /The Worker URL/, bad);
    }
  });

  const opts = { allowedHosts: ['id.example', 'login.example:8443'], issuer: 'https://id.example/realms/demo' };
  test('impersonation URL: https on an allowed host', () => {
    assert.equal(checkImpersonationUrl('https://id.example/realms/demo/impersonate', opts).host, 'id.example');
    assert.equal(checkImpersonationUrl('https://LOGIN.example:8443/x', opts).host, 'login.example:8443');
  });
  test('impersonation URL refusals', () => {
    for (const bad of [
      'http://id.example/x', // not https
      'https://evil.example/x', // host not allowed
      'https://id.example.evil.example/x',
      'https://id.example:444/x', // port differs
      'https://user@id.example/x',
      'https://id.example/x#frag',
      'javascript:alert(1)',
      'nonsense',
    ]) {
      assert.throws(() => checkImpersonationUrl(bad, opts), Error, bad);
    }
  });
  test('http only on loopback and only when the issuer itself is on loopback', () => {
    const dev = { allowedHosts: ['127.0.0.1:8790'], issuer: 'http://127.0.0.1:8790/realms/demo' };
    assert.equal(checkImpersonationUrl('http://127.0.0.1:8790/realms/demo/impersonate', dev).port, '8790');
    assert.throws(() => checkImpersonationUrl('http://127.0.0.1:8790/x', { ...dev, issuer: 'https://id.example/realms/demo' }));
  });
  test('the realm an impersonation ends in', () => {
    const issuer = 'https://admins.example.com/realms/staff/';
    assert.equal(realmOf(new URL('https://id.example.com/realms/customers/impersonate'), issuer), 'https://id.example.com/realms/customers');
    assert.equal(realmOf(new URL('https://id.example.com/auth/realms/x/protocol/impersonate'), issuer), 'https://id.example.com/auth/realms/x');
    assert.equal(realmOf(new URL('https://id.example.com/impersonate'), issuer), 'https://admins.example.com/realms/staff');
  });

  test('origin patterns', () => {
    assert.equal(originPattern('https://actas.example/v1'), 'https://actas.example/*');
    assert.equal(originPattern('http://127.0.0.1:8787'), 'http://127.0.0.1/*');
  });
});

describe('PKCE', () => {
  test('S256 challenge of a 43-character verifier', async () => {
    const { verifier, challenge } = await pkcePair();
    assert.match(verifier, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(challenge, createHash('sha256').update(verifier).digest('base64url'));
    assert.notEqual(randomString(), randomString());
  });
});

describe('problem messages', () => {
  test('problem JSON: detail, title by type, request id', () => {
    const err = problemError(403, {
      type: 'urn:actas:problem:user-not-allowed', title: 'x', status: 403, detail: 'This user may not be impersonated.', requestId: 'r1',
    });
    assert.equal(err.kind, 'user-not-allowed');
    assert.equal(err.title, 'This user cannot be impersonated');
    assert.equal(err.message, 'This user may not be impersonated. (request r1)');
  });
  test('rate limit names the wait; unknown bodies name the status', () => {
    assert.match(problemError(429, { type: 'urn:actas:problem:rate-limited', detail: 'Slow down.' }, '30').message, /30 s/);
    const err = problemError(502, '<html>');
    assert.equal(err.title, 'The Worker failed');
    assert.match(err.message, /502/);
  });
  test('unreachable names the Worker', () => {
    assert.match(unreachableError('https://actas.example').message, /https:\/\/actas\.example/);
  });
});

describe('release manifest', () => {
  const dev = JSON.parse(readFileSync(new URL('../extension/manifest.json', import.meta.url), 'utf8'));

  test('no development key, loopback access only on request', () => {
    for (const target of ['chrome', 'firefox']) {
      const m = releaseManifest(dev, target);
      assert.equal(m.key, undefined, target);
      assert.ok(!(m.host_permissions ?? []).some((p) => LOOPBACK.includes(p)), `${target}: loopback not granted up front`);
      for (const p of LOOPBACK) assert.ok(m.optional_host_permissions.includes(p), `${target}: ${p} optional`);
      assert.ok(m.optional_host_permissions.includes('https://*/*'), target);
      // Forms to https, and to loopback for a loopback issuer (the URL check allows nothing else).
      assert.match(m.content_security_policy.extension_pages, /form-action https: http:\/\/127\.0\.0\.1:\* http:\/\/localhost:\*$/, target);
    }
    assert.ok(dev.key, 'the unpacked extension keeps its development id');
  });

  test('Firefox gets the container permissions, Chrome does not', () => {
    const ff = releaseManifest(dev, 'firefox').permissions;
    const cr = releaseManifest(dev, 'chrome').permissions;
    for (const p of ['contextualIdentities', 'cookies']) {
      assert.ok(ff.includes(p), `firefox: ${p}`);
      assert.ok(!cr.includes(p), `chrome: ${p}`);
    }
    assert.deepEqual(cr, dev.permissions);
  });

  test('an unknown target is refused', () => {
    assert.throws(() => releaseManifest(dev, 'safari'), /unknown target/);
  });
});

describe('user labels from the page', () => {
  test('whitespace collapsed, the bare UUID is no label', () => {
    assert.equal(cleanLabel('  Alice\n   Archer ', A), 'Alice Archer');
    assert.equal(cleanLabel(A.toUpperCase(), A), '');
    assert.equal(cleanLabel('', A), '');
    assert.equal(cleanLabel(undefined, A), '');
  });
  test('control and bidi-override characters cannot disguise the name; long names are cut', () => {
    assert.equal(cleanLabel('Bob\u202e nruter\u0007', A), 'Bob nruter');
    for (const hidden of ['\u061c', '\u2060', '\u180e', '\u00ad', '\u200b', '\u3164', '\u115f', '\uffa0', '\u2028']) {
      assert.equal(cleanLabel(`Al${hidden}ice`, A), 'Al ice', `U+${hidden.codePointAt(0).toString(16)}`);
    }
    const long = cleanLabel('x'.repeat(200), A);
    assert.equal(long.length, 80);
    assert.ok(long.endsWith('…'));
  });
});
