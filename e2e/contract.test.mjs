// The Worker's input contract and readiness under workerd (wrangler dev): what a body
// and a path must be, what the CSV export gives back, and /readyz against a real D1.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { parse } from 'csv-parse/sync';

import { seedUser, startStack } from './harness.mjs';

const alice = seedUser('alice');
const REASON = 'e2e: contract check 4711';
const PROBLEM_TYPE = 'urn:actas:problem:';
const BODY_LIMIT = 16 << 10;

let stack;

before(async () => {
  // No rate limit: this file mints once per character class.
  stack = await startStack({ vars: { ACTAS_RATE_LIMIT: 'off' } });
});
after(async () => {
  await stack?.stop();
});

function assertProblem(res, status, slug) {
  assert.equal(res.status, status, `status (problem type: ${res.json?.type}, body ${res.text?.slice(0, 200)})`);
  assert.equal(res.json?.type, PROBLEM_TYPE + slug);
  assert.equal(res.headers.get?.('location') ?? res.headers.location ?? null, null, 'no redirect');
}

const body = (extra = {}) => JSON.stringify({ userUuid: alice.uuid, clientId: 'crm', reason: REASON, ...extra });

/** POST raw bytes to /v1/impersonations as the harness's caller. */
async function postRaw(bytes) {
  const res = await fetch(`${stack.workerURL}/v1/impersonations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.key}`, 'content-type': 'application/json' },
    body: bytes,
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

describe('the impersonation body', () => {
  const refused = [
    ['a valid object padded with whitespace past 16 KiB', body() + ' '.repeat(BODY_LIMIT)],
    ['a valid object, then a second one past 16 KiB', body() + JSON.stringify({ reason: 'x'.repeat(BODY_LIMIT) })],
    ['null', 'null'],
    ['a member in another case', body().replace('"userUuid"', '"USERUUID"')],
    ['a member given twice', body().replace('{', `{"userUuid":"${seedUser('root-admin').uuid}",`)],
    ['a null member', JSON.stringify({ userUuid: alice.uuid, clientId: 'crm', reason: null })],
    ['an unpaired surrogate escape', body({ reason: 'placeholder' }).replace('placeholder', 'e2e check \\ud800')],
    ['invalid UTF-8', Buffer.concat([Buffer.from(body({ reason: 'placeholder' }).split('placeholder')[0] + 'e2e check '), Buffer.from([0xff]), Buffer.from('"}')])],
  ];
  for (const [name, payload] of refused) {
    test(`${name}: 400 invalid-body, Bare.ID never asked`, async () => {
      const before = await stack.emulatorStats();
      const res = await postRaw(payload);
      assertProblem(res, 400, 'invalid-body');
      const afterStats = await stack.emulatorStats();
      assert.equal(afterStats.mintRequests, before.mintRequests);
    });
  }

  test('a body of exactly 16 KiB is accepted', async () => {
    const b = body();
    const res = await postRaw(b + ' '.repeat(BODY_LIMIT - Buffer.byteLength(b)));
    assert.equal(res.status, 201, res.text);
  });

  for (const [name, ch] of [
    ['a right-to-left override', '\u202e'],
    ['a zero-width space', '\u200b'],
    ['a line separator', '\u2028'],
  ]) {
    test(`a reason with ${name}: 400 reason-invalid`, async () => {
      const res = await postRaw(body({ reason: `e2e check ${ch}gnp.exe` }));
      assertProblem(res, 400, 'reason-invalid');
    });
  }
});

/** A request with the path exactly as given (fetch would normalise it). */
function rawRequest(method, path, payload) {
  const u = new URL(stack.workerURL);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        method,
        path,
        headers: { authorization: `Bearer ${stack.key}`, 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
    req.end(payload);
  });
}

describe('paths', () => {
  const nonCanonical = [
    ['POST', '//v1/impersonations'],
    ['POST', '/v1//impersonations'],
    ['POST', '/v1/impersonations/'],
    ['POST', '/v1/%69mpersonations'],
    ['GET', '/v1/me/'],
    ['GET', '//v1/me'],
    ['GET', '//healthz'],
    ['GET', '/v1/impersonations//verify'],
  ];
  for (const [method, path] of nonCanonical) {
    test(`${method} ${path}: 404 problem, no redirect, nothing minted`, async () => {
      const before = await stack.emulatorStats();
      const res = await rawRequest(method, path, method === 'POST' ? body() : undefined);
      assert.equal(res.status, 404, `${res.status} ${res.text}`);
      assert.equal(res.json?.type, PROBLEM_TYPE + 'not-found');
      assert.equal(res.headers.location, undefined);
      assert.equal((await stack.emulatorStats()).mintRequests, before.mintRequests);
    });
  }

  // workerd resolves dot segments (RFC 3986 §5.2.4) before the Worker sees the URL, as
  // Cloudflare's edge does: the request reaches the canonical path it names.
  test('dot segments are resolved before the Worker, never redirected', async () => {
    const res = await rawRequest('GET', '/v1/./me', undefined);
    assert.equal(res.headers.location, undefined);
    assert.ok(res.status === 200 || res.status === 404, `status ${res.status}`);
  });
});

describe('the CSV export', () => {
  // Every class of character a reason accepts, and the ones CSV and spreadsheets treat
  // specially; reasons are trimmed and at least 8 characters long.
  const reasons = [
    `SUP-1 ASCII, "double quotes", commas, 'apostrophes' and a\ttab`,
    'SUP-2 line\nfeed, lone\rCR, CRLF\r\nblank line follows\n\nend',
    '=HYPERLINK("https://evil.example","x") SUP-3',
    '+1 555 0100 SUP-4',
    '-5 balance SUP-5',
    '@SUM(A1) SUP-6',
    "'quoted SUP-7",
    'SUP-8 Åéß λ ж 漢字 مرحبا שלום e\u0301 ١٢٣ ½ Ⅻ €£©™∑→ 😀 nbsp\u00a0ideo\u3000pua\ue000',
  ];

  test('reproduces every stored reason (dropping the one documented apostrophe)', async () => {
    const ids = [];
    for (const reason of reasons) {
      const res = await stack.mint({ userUuid: alice.uuid, clientId: 'crm', reason });
      assert.equal(res.status, 201, `mint with ${JSON.stringify(reason)}: ${res.text}`);
      ids.push(res.json.id);
    }
    const res = await fetch(`${stack.workerURL}/v1/impersonations?limit=500`, {
      headers: { authorization: `Bearer ${stack.key}`, accept: 'text/csv' },
    });
    assert.equal(res.status, 200);
    const rows = parse(await res.text(), { columns: true, record_delimiter: '\r\n' });
    const byId = new Map(rows.map((r) => [r.id, r]));
    ids.forEach((id, i) => {
      const row = byId.get(id);
      assert.ok(row, `row for ${id}`);
      const stored = row.reason.startsWith("'") ? row.reason.slice(1) : row.reason;
      assert.equal(stored, reasons[i], `reason ${i}`);
      if (/^[=+\-@']/.test(reasons[i])) assert.equal(row.reason, "'" + reasons[i], 'formula cell defused');
    });
  });
});

describe('/readyz', () => {
  test('ready: every check named, with the build version; /v1/me and openapi.json agree', async () => {
    const res = await stack.call('GET', '/readyz', undefined, null);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.status, 'ready');
    assert.deepEqual(res.json.checks, { config: 'ok', auditStore: 'ok', bareid: 'ok', oidc: 'ok' });
    assert.match(res.json.version, /^[A-Za-z0-9][A-Za-z0-9._+-]*$/);
    assert.notEqual(res.json.version, 'unset', 'build.sh sets the version');
    assert.doesNotMatch(res.text, /http|127\.0\.0\.1/, 'no URL in the answer');
    const me = await stack.call('GET', '/v1/me');
    assert.equal(me.json.version, res.json.version);
    const doc = await stack.call('GET', '/openapi.json', undefined, null);
    assert.equal(doc.json.info.version, res.json.version);
  });

  test('/healthz stays a bare liveness answer', async () => {
    const res = await stack.call('GET', '/healthz', undefined, null);
    assert.deepEqual(res.json, { status: 'ok' });
  });
});

describe('/readyz of a Worker that cannot serve', () => {
  let broken;
  before(async () => {
    broken = await startStack({
      applyMigrations: false, // D1 reachable but without the audit schema (until a request migrates it)
      vars: { ACTAS_OIDC_ISSUER: 'http://127.0.0.1:9/realms/nowhere' }, // nothing listens on port 9
    });
    await broken.emulatorFaults({ tokenDown: true });
  });
  after(async () => {
    await broken?.stop();
  });

  test('503 naming the failed checks, and nothing secret', async () => {
    const res = await broken.call('GET', '/readyz', undefined, null);
    assert.equal(res.status, 503, res.text);
    assert.equal(res.json.status, 'not-ready');
    assert.deepEqual(res.json.checks, { config: 'ok', auditStore: 'failed', bareid: 'failed', oidc: 'failed' });
    assert.doesNotMatch(res.text, /http|127\.0\.0\.1|nowhere/, 'no URL in the answer');
    assert.ok(!res.text.includes(broken.clientSecret));
    const health = await broken.call('GET', '/healthz', undefined, null);
    assert.equal(health.status, 200, 'liveness is not readiness');
  });
});
