// One Go instance serves every request of an isolate (wasm/worker.mjs, wasm/bridge.go).
// These tests prove the reuse is correct under workerd: memory and bridge callbacks
// stay bounded over thousands of requests, concurrent requests never mix state, a
// panicking request is a 500 for that request only, a dead Go program is replaced,
// and waitUntil work runs in the request that scheduled it.
//
// They use the test hooks of wasm/hooks.go, which answer only with ACTAS_TEST_HOOKS=true.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { newKey, seedUser, sqlString, startStack } from './harness.mjs';

// Reuse relies on workerd's handle_cross_request_promise_resolution (default from
// 2024-10-14): Go resolves each request's I/O promise from whichever request's stack it
// runs on. Without it, overlapping requests fail with "Cannot perform I/O on behalf of
// a different request" (e2e/concurrency.test.mjs fails then), so no stage of
// wrangler.toml may date before it or opt out.
test('wrangler.toml keeps handle_cross_request_promise_resolution in every stage', () => {
  const toml = readFileSync(new URL('../wrangler.toml', import.meta.url), 'utf8');
  const dates = [...toml.matchAll(/^\s*compatibility_date\s*=\s*"([0-9-]+)"/gm)].map((m) => m[1]);
  assert.ok(dates.length >= 1, 'wrangler.toml names no compatibility_date');
  for (const d of dates) assert.ok(d >= '2024-10-14', `compatibility_date ${d} is before 2024-10-14`);
  assert.doesNotMatch(toml, /^[^#\n]*no_handle_cross_request_promise_resolution/m);
});

const alice = seedUser('alice');
const REASON = 'e2e: reuse of one Go instance';

// The bound the memory test holds the instance to: after REQUESTS requests (healthz,
// /v1/me and impersonations), Go's heap in use after a full GC grows by at most
// HEAP_GROWTH_BOUND over the warmed-up baseline, the bridge still holds exactly its two
// js.Funcs, and the JavaScript values Go references are back within JS_REFS_SLACK.
const REQUESTS = 2000;
const CONCURRENCY = 8;
const HEAP_GROWTH_BOUND = 2 << 20; // 2 MiB
const JS_REFS_SLACK = 64;
const TIME_BOUND_MS = 90_000;

const alpha = newKey('alpha');
const beta = newKey('beta');

let stack;

before(async () => {
  stack = await startStack({
    vars: {
      ACTAS_TEST_HOOKS: 'true',
      ACTAS_API_KEYS: `${alpha.entry},${beta.entry}`,
      ACTAS_RATE_LIMIT: 'off',
    },
  });
});
after(async () => {
  await stack?.stop();
});

async function stats() {
  const res = await stack.call('GET', '/_test/stats', undefined, null);
  assert.equal(res.status, 200, res.text);
  return res.json;
}

const mintBody = (reason = REASON) => ({ userUuid: alice.uuid, clientId: 'crm', reason });

/** Runs fn(i) for i in [0, n) with at most `concurrency` in flight. */
async function pool(n, concurrency, fn) {
  let next = 0;
  const results = new Array(n);
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = next++;
      results[i] = await fn(i);
    }
  }));
  return results;
}

describe('one Go instance per isolate', () => {
  test(`${REQUESTS} requests through one instance: bounded heap, no leaked js.Func`, async () => {
    // Warm up: first impersonation (service token), D1, every code path the loop uses.
    await pool(100, CONCURRENCY, (i) => (i % 10 === 0 ? stack.mint(mintBody(), alpha.key) : stack.call('GET', '/v1/me', undefined, alpha.key)));
    const base = await stats();
    const deadline = Date.now() + TIME_BOUND_MS;
    const statuses = {};
    await pool(REQUESTS, CONCURRENCY, async (i) => {
      if (Date.now() > deadline) return;
      let res;
      if (i % 20 === 0) res = await stack.mint(mintBody(), alpha.key);
      else if (i % 2 === 0) res = await stack.call('GET', '/v1/me', undefined, beta.key);
      else res = await stack.call('GET', '/healthz', undefined, null);
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    });
    const end = await stats();
    assert.deepEqual(Object.keys(statuses).sort(), ['200', '201'], `statuses ${JSON.stringify(statuses)}`);
    const sent = Object.values(statuses).reduce((a, b) => a + b, 0);
    assert.equal(sent, REQUESTS, `all ${REQUESTS} requests within ${TIME_BOUND_MS} ms`);

    assert.equal(end.instance, base.instance, 'the same Go instance served every request');
    assert.ok(end.served - base.served >= REQUESTS, `served ${end.served - base.served}`);
    assert.equal(end.funcsLive, 3, 'the bridge holds exactly its three js.Funcs (serve, complete, scheduled)');
    assert.equal(end.opsInFlight, 0, 'no operation left waiting');
    const growth = end.heapInuse - base.heapInuse;
    console.log(`heap in use ${base.heapInuse} -> ${end.heapInuse} B (growth ${growth} B, bound ${HEAP_GROWTH_BOUND}); ` +
      `JS values held by Go ${base.jsRefsLive} -> ${end.jsRefsLive}; goroutines ${base.goroutines} -> ${end.goroutines}`);
    assert.ok(growth <= HEAP_GROWTH_BOUND, `heap grew by ${growth} B`);
    assert.ok(end.jsRefsLive <= base.jsRefsLive + JS_REFS_SLACK, `JS values held by Go: ${base.jsRefsLive} -> ${end.jsRefsLive}`);
    assert.ok(end.goroutines <= base.goroutines + 2, `goroutines ${base.goroutines} -> ${end.goroutines}`);
  });

  test('a burst reuses the goroutines of finished requests and keeps at most 16 waiting', async () => {
    const burst = async () => {
      const res = await pool(48, 48, () => stack.call('GET', '/healthz', undefined, null));
      assert.deepEqual([...new Set(res.map((r) => r.status))], [200]);
      return stats();
    };
    const first = await burst();
    assert.ok(first.idleServers >= 1 && first.idleServers <= 16, `idle serving goroutines ${first.idleServers}`);
    const second = await burst();
    assert.ok(second.idleServers <= 16, `idle serving goroutines ${second.idleServers}`);
    assert.ok(second.goroutines <= first.goroutines + 2, `goroutines ${first.goroutines} -> ${second.goroutines}`);
  });

  test('a warm impersonation costs exactly one upstream request (service token reused)', async () => {
    await stack.mint(mintBody(), alpha.key); // the token is cached by now anyway
    const before = await stack.emulatorStats();
    const results = await pool(16, 4, () => stack.mint(mintBody(), alpha.key));
    const after = await stack.emulatorStats();
    assert.deepEqual(results.map((r) => r.status), Array(16).fill(201));
    assert.equal(after.mintRequests - before.mintRequests, 16);
    assert.equal(after.tokenRequests - before.tokenRequests, 0, 'no token request for warm impersonations');
  });

  test('concurrent requests with different actors never mix state', async () => {
    const keys = [alpha, beta];
    const mes = await pool(32, CONCURRENCY, (i) => stack.call('GET', '/v1/me', undefined, keys[i % 2].key));
    mes.forEach((res, i) => {
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.actor, keys[i % 2].label, `request ${i} answered as ${res.json.actor}`);
    });

    const mints = await pool(16, CONCURRENCY, (i) => stack.mint(mintBody(`${REASON} #${i}`), keys[i % 2].key));
    const rows = await stack.auditRows(`SELECT impersonation_id AS id, actor, reason FROM audit_events
      WHERE event = 'requested' AND impersonation_id IN (${mints.map((r) => sqlString(r.json?.id)).join(',')})`);
    const byId = new Map(rows.map((r) => [r.id, r]));
    mints.forEach((res, i) => {
      assert.equal(res.status, 201, res.text.slice(0, 200));
      const row = byId.get(res.json.id);
      assert.ok(row, `audit row for impersonation ${i}`);
      assert.equal(row.actor, keys[i % 2].label, `impersonation ${i} audited as ${row.actor}`);
      assert.equal(row.reason, `${REASON} #${i}`);
    });
  });

  test('a request whose handler panics gets a 500; the next one succeeds on the same instance', async () => {
    const before = await stats();
    const res = await stack.call('GET', '/_test/panic', undefined, null);
    assert.equal(res.status, 500);
    assert.equal(res.json?.type, 'urn:actas:problem:internal');
    assert.ok(!res.text.includes('test hook'), 'no panic text in the answer');
    const ok = await stack.call('GET', '/v1/me', undefined, alpha.key);
    assert.equal(ok.status, 200);
    assert.equal((await stack.mint(mintBody(), alpha.key)).status, 201);
    assert.equal((await stats()).instance, before.instance, 'the panic did not cost the instance');
  });

  test('if the Go program exits, the next request starts a fresh instance', async () => {
    const before = await stats();
    const res = await stack.call('GET', '/_test/exit', undefined, null);
    assert.equal(res.status, 500);
    assert.equal(res.json?.type, 'urn:actas:problem:internal');
    const afterExit = await stats();
    assert.notEqual(afterExit.instance, before.instance, 'a new Go instance');
    assert.equal((await stack.mint(mintBody(), alpha.key)).status, 201, 'the new instance mints');
  });

  test('waitUntil work runs for the request that scheduled it, after its answer', async () => {
    const tags = Array.from({ length: CONCURRENCY }, (_, i) => `t${i}-${Date.now()}`);
    const answers = await Promise.all(tags.map((tag, i) =>
      stack.call('GET', `/_test/wait-until?tag=${tag}&ms=${50 * (CONCURRENCY - i)}`, undefined, null)));
    const requestOf = new Map();
    answers.forEach((res, i) => {
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.scheduled, true);
      requestOf.set(tags[i], res.json.request);
    });
    assert.equal(new Set(requestOf.values()).size, tags.length, 'each answer came from its own request');

    let log = [];
    for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
      log = (await stack.call('GET', '/_test/wait-until-log', undefined, null)).json.filter((t) => requestOf.has(t.tag));
      if (log.length === tags.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(log.length, tags.length, `finished tasks: ${JSON.stringify(log)}`);
    for (const t of log) {
      assert.equal(t.error, undefined, `task ${t.tag}: ${t.error}`);
      assert.equal(t.request, requestOf.get(t.tag), `task ${t.tag} ran in request ${t.request}`);
      assert.ok(t.status > 0, `task ${t.tag} reached upstream after the answer`);
    }
  });
});

describe('test hooks are off unless ACTAS_TEST_HOOKS=true', () => {
  let plain;
  before(async () => {
    plain = await startStack();
  });
  after(async () => {
    await plain?.stop();
  });

  test('/_test/ paths are unknown to a normal Worker', async () => {
    for (const p of ['/_test/stats', '/_test/panic', '/_test/exit', '/_test/wait-until']) {
      const res = await plain.call('GET', p, undefined, null);
      assert.equal(res.status, 404, `${p}: ${res.status}`);
    }
    assert.equal((await plain.call('GET', '/healthz', undefined, null)).status, 200);
  });
});
