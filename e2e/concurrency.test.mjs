// Overlapping requests through one Go instance: impersonations, audit listings and
// health checks over keep-alive connections, round after round. Every answer must be
// the documented success (no 503 audit-unavailable from I/O crossing requests), the
// audit chain must verify, and every impersonation must have exactly its two events.
//
// The load is bounded in count and time and goes to loopback only.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { newKey, seedUser, startStack } from './harness.mjs';

const ROUNDS = 6;
const CONNECTIONS = 8; // keep-alive sockets, all busy at once
const PER_ROUND = 48; // requests per round: mints, listings and health checks mixed
const TIME_BOUND_MS = 120_000;

const alice = seedUser('alice');
const admin = newKey('load-admin', 'actas-impersonator|actas-auditor');

let stack;

before(async () => {
  stack = await startStack({
    // The test hooks report the D1 round trips the bridge made (wasm/hooks.go). A
    // generous upstream timeout: this tests correctness under overlap, and a busy
    // machine must not turn slowness into failures.
    vars: { ACTAS_API_KEYS: admin.entry, ACTAS_RATE_LIMIT: '100000/1h', ACTAS_TEST_HOOKS: 'true', BAREID_TIMEOUT: '20s' },
  });
});
after(async () => {
  await stack?.stop();
});

const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
after(() => agent.destroy());

/** One request over the shared keep-alive agent; resolves with status, reused socket, body. */
function request(method, path, body) {
  const url = new URL(path, stack.workerURL);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers = { authorization: `Bearer ${admin.key}` };
  if (payload !== undefined) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers, timeout: 30_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, reused: req.reusedSocket, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

const kinds = [
  { name: 'mint', want: 201, send: (i) => request('POST', '/v1/impersonations', { userUuid: alice.uuid, clientId: 'crm', reason: `concurrency test ${i}` }) },
  { name: 'list', want: 200, send: () => request('GET', '/v1/impersonations?limit=20') },
  { name: 'healthz', want: 200, send: () => request('GET', '/healthz') },
];

describe('overlapping requests', () => {
  test(`${ROUNDS} rounds of ${PER_ROUND} mixed requests over ${CONNECTIONS} keep-alive connections: no failure, a sound chain`, async () => {
    const deadline = Date.now() + TIME_BOUND_MS;
    const failures = [];
    let mints = 0;
    let reused = 0;
    for (let round = 0; round < ROUNDS && Date.now() < deadline; round++) {
      // Every request of a round is in flight at once (the agent queues beyond
      // CONNECTIONS), so mints overlap each other and the reads.
      const results = await Promise.all(Array.from({ length: PER_ROUND }, async (_, i) => {
        const kind = kinds[i % 2 === 0 ? 0 : 1 + (i % 4 === 1 ? 0 : 1)];
        const res = await kind.send(round * PER_ROUND + i);
        return { kind, res };
      }));
      for (const { kind, res } of results) {
        if (res.reused) reused++;
        if (kind.name === 'mint' && res.status === 201) mints++;
        if (res.status !== kind.want) failures.push(`${kind.name}: ${res.status} ${res.text.slice(0, 300)}`);
      }
    }
    assert.deepEqual(failures, [], `${failures.length} failed answers`);
    assert.ok(reused > 0, 'the requests shared keep-alive connections');
    assert.ok(mints >= PER_ROUND / 2, `at least one round of mints completed (${mints})`);

    const verify = await request('GET', '/v1/impersonations/verify');
    // (the round-trip check below adds one more impersonation)
    assert.equal(verify.status, 200, verify.text);
    const v = JSON.parse(verify.text);
    assert.equal(v.ok, true, `chain breaks: ${JSON.stringify(v.firstBreak)}`);
    // Each issued impersonation is two events: requested, issued. No other writer ran.
    assert.equal(v.events, 2 * mints, 'every impersonation has its requested and issued events, and nothing else');

    // A warm mint is two D1 round trips: "requested" with the rate-limit count in one
    // batch, then the outcome; the chain's head is kept in the isolate.
    const stats = async () => JSON.parse((await request('GET', '/_test/stats')).text).d1RoundTrips;
    const before = await stats();
    const one = await kinds[0].send(-1);
    assert.equal(one.status, 201, one.text);
    assert.equal(await stats() - before, 2, 'D1 round trips for one warm mint');
    mints++;

    const rows = await stack.auditRows(`SELECT event, COUNT(*) AS n FROM audit_events GROUP BY event ORDER BY event`);
    assert.deepEqual(rows, [{ event: 'issued', n: mints }, { event: 'requested', n: mints }]);
  });
});
