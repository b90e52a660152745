// The Worker under workerd (wrangler dev) against the Bare.ID emulator: the minting
// flow end to end, authentication, input checks, upstream faults and the audit trail.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';

import { newKey, seedUser, sqlString, startStack } from './harness.mjs';

const alice = seedUser('alice');
const REASON = 'e2e: reproduce support ticket 4711';
const PROBLEM_TYPE = 'urn:actas:problem:';

let stack;

before(async () => {
  stack = await startStack();
  console.log(`stack ready in ${stack.readyMs} ms (emulator build + migrations + wrangler dev)`);
});
after(async () => {
  await stack?.stop();
});
beforeEach(async () => {
  await stack.emulatorReset();
});

/** Secrets that must never show up in a response, problem body or log. */
function assertNoSecrets(text, ...extra) {
  for (const s of [stack.key, stack.clientSecret, ...extra]) {
    assert.ok(!text.includes(s), 'a secret or token leaked into the output');
  }
}

/** Asserts an RFC 9457 problem answer with the given status and slug. */
function assertProblem(res, status, slug) {
  assert.equal(res.status, status, `status (problem body type: ${res.json?.type})`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(res.json?.type, PROBLEM_TYPE + slug);
  assert.equal(res.json.status, status);
  assert.equal(typeof res.json.title, 'string');
  assert.equal(typeof res.json.requestId, 'string');
  assertNoSecrets(res.text);
  // Tokens we cannot know (an impersonation token the Worker rejected, the service
  // access token) are long base64url runs; nothing in a problem body is.
  assert.doesNotMatch(res.text, /[A-Za-z0-9_-]{40,}/, 'no token-like string in a problem body');
}

async function auditRow(where) {
  // One row per impersonation: its 'requested' event with the outcome event folded in.
  const rows = await stack.auditRows(`SELECT r.impersonation_id AS id, r.actor, r.actor_kind,
    r.target_user, r.client_id, r.reason, r.request_id, o.event AS outcome, o.detail,
    o.upstream_status
    FROM audit_events r LEFT JOIN audit_events o ON o.impersonation_id = r.impersonation_id
      AND o.event IN ('issued', 'denied', 'failed')
    WHERE r.event = 'requested' AND ${where}`);
  assert.equal(rows.length, 1, `exactly one audit row where ${where}`);
  return rows[0];
}

test('GET /healthz answers ok', async () => {
  const res = await stack.call('GET', '/healthz');
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, { status: 'ok' });
});

describe('minting', () => {
  test('a valid key gets a token that signs the browser in as the user, once', async () => {
    const res = await stack.mint({ userUuid: alice.uuid, clientId: 'crm', reason: REASON });
    assert.equal(res.status, 201, `mint status (problem type: ${res.json?.type})`);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const { id, token, url, method, field, expiresAt } = res.json;
    assert.equal(typeof id, 'string');
    assert.ok(token, 'token present');
    assert.equal(method, 'POST');
    assert.equal(field, 'token');
    assert.ok(!Number.isNaN(Date.parse(expiresAt)), 'expiresAt is a date');
    assert.ok(url.startsWith(stack.emulatorURL + '/'), 'url points at the emulator');
    assert.ok(!url.includes(token), 'the token is not in the URL');

    // What the extension does: a top-level form POST of token=... to the URL.
    const form = await fetch(url, {
      method: 'POST',
      body: new URLSearchParams({ [field]: token }),
      redirect: 'manual',
    });
    assert.equal(form.status, 302);
    const location = new URL(form.headers.get('location'), url);
    assert.equal(location.pathname, '/apps/crm/');
    const cookie = form.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .find((c) => c.startsWith('BAREID_SESSION='));
    assert.ok(cookie, 'BAREID_SESSION cookie set');

    const app = await fetch(location, { headers: { cookie } });
    assert.equal(app.status, 200);
    const page = await app.text();
    assert.ok(page.includes(alice.name) || page.includes(alice.username), 'the app page names alice');

    // An impersonation token works once.
    const again = await fetch(url, { method: 'POST', body: new URLSearchParams({ [field]: token }), redirect: 'manual' });
    assert.ok(again.status >= 400 && again.status < 500, `reused token refused (got ${again.status})`);
    assert.equal(again.headers.get('location'), null);

    const row = await auditRow(`r.impersonation_id = ${sqlString(id)}`);
    assert.equal(row.actor, stack.keyLabel);
    assert.equal(row.actor_kind, 'api-key');
    assert.equal(row.target_user, alice.uuid);
    assert.equal(row.client_id, 'crm');
    assert.equal(row.reason, REASON);
    assert.equal(row.outcome, 'issued');
    assertNoSecrets(JSON.stringify(await stack.auditRows('SELECT * FROM audit_events')), token);
    assertNoSecrets(stack.workerLog(), token);
  });

  test('the caller may list its clients', async () => {
    const res = await stack.call('GET', '/v1/clients');
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, [
      { clientId: 'crm', name: 'Customer CRM' },
      { clientId: 'wiki', name: 'Team Wiki' },
    ]);
  });
});

describe('authentication', () => {
  const cases = [
    ['no Authorization header', null],
    ['an unknown key', newKey('stranger').key],
    ['a malformed header value', 'not a key'],
  ];
  for (const [name, key] of cases) {
    test(`${name} gets 401 and Bare.ID is never called`, async () => {
      const before = await stack.emulatorStats();
      const res = await stack.mint({ userUuid: alice.uuid, clientId: 'crm', reason: REASON }, key);
      assertProblem(res, 401, 'unauthenticated');
      if (key) assert.ok(!res.text.includes(key), 'the presented key is not echoed');
      const afterStats = await stack.emulatorStats();
      assert.equal(afterStats.tokenRequests, before.tokenRequests);
      assert.equal(afterStats.mintRequests, before.mintRequests);
    });
  }
});

describe('input checks', () => {
  test('a user id that is not a UUID gets 400 invalid-user-id', async () => {
    const res = await stack.mint({ userUuid: 'alice', clientId: 'crm', reason: REASON });
    assertProblem(res, 400, 'invalid-user-id');
  });

  test('an unknown client gets 400 client-not-allowed', async () => {
    const res = await stack.mint({ userUuid: alice.uuid, clientId: 'payroll', reason: REASON });
    assertProblem(res, 400, 'client-not-allowed');
  });

  test('a missing reason gets 400 reason-required', async () => {
    const res = await stack.mint({ userUuid: alice.uuid, clientId: 'crm' });
    assertProblem(res, 400, 'reason-required');
  });

  test('a body that is not JSON gets 400 invalid-body', async () => {
    const res = await stack.mint('{"userUuid":');
    assertProblem(res, 400, 'invalid-body');
  });
});

describe('upstream faults', () => {
  const faults = [
    ['Bare.ID answers 500', { mintStatus: 500 }],
    ['Bare.ID answers malformed JSON', { mintMalformed: true }],
    ['Bare.ID returns a URL on a host not allowed', { wrongHost: true }],
  ];
  for (const [name, fault] of faults) {
    test(`${name}: 502 upstream-failed, audited as failed`, async () => {
      await stack.emulatorFaults(fault);
      const res = await stack.mint({ userUuid: alice.uuid, clientId: 'crm', reason: REASON });
      assertProblem(res, 502, 'upstream-failed');
      assert.ok(!/evil\.example/.test(res.text), 'the rejected URL is not echoed');
      const row = await auditRow(`r.request_id = ${sqlString(res.json.requestId)}`);
      assert.equal(row.outcome, 'failed');
      assert.equal(row.actor, stack.keyLabel);
    });
  }

  test('Bare.ID slower than BAREID_TIMEOUT: 504 upstream-timeout', async () => {
    await stack.emulatorFaults({ latencyMs: 4000 }); // the harness sets BAREID_TIMEOUT=2s
    const started = Date.now();
    const res = await stack.mint({ userUuid: alice.uuid, clientId: 'crm', reason: REASON });
    assertProblem(res, 504, 'upstream-timeout');
    assert.ok(Date.now() - started < 3900, 'the Worker gave up before Bare.ID answered');
  });
});
