// The Worker's log as wrangler dev prints it: one JSON line per request with a fixed
// field set, written through the console method of its level, that follows an
// impersonation by its id and names what failed without internals.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';

import { seed, seedUser, startStack } from './harness.mjs';

const alice = seedUser('alice');
const REASON = 'e2e: logs follow one impersonation';

// The documented field set, in order (README, "Logs").
const FIELDS = ['time', 'level', 'msg', 'version', 'requestId', 'method', 'route', 'status',
  'durationMs', 'actor', 'actorKind', 'impersonationId', 'targetUser', 'clientId', 'outcome',
  'problem', 'error', 'seq', 'hash', 'detail'];

// How wrangler dev shows each level: console.info on stdout unmarked, console.warn and
// console.error on stderr with their markers.
const SHOWN = { info: ['stdout', 'log'], warn: ['stderr', 'warn'], error: ['stderr', 'error'] };

let stack;

before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack?.stop();
});
beforeEach(async () => {
  await stack.emulatorReset();
});

/** The one log line of the request that answered res (waits for wrangler to print it). */
async function lineOf(res) {
  const id = res.headers.get('x-request-id');
  assert.ok(id, 'X-Request-Id');
  for (let i = 0; i < 100; i++) {
    const found = stack.workerLogLines().filter((l) => l.entry.requestId === id);
    if (found.length) {
      assert.equal(found.length, 1, 'exactly one line per request');
      return found[0];
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no log line for request ${id}:\n${stack.workerLog().slice(-3000)}`);
}

function assertShape(line) {
  assert.deepEqual(Object.keys(line.entry), FIELDS, 'the fixed field set, in order');
  assert.match(line.entry.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'time in milliseconds, UTC');
  assert.equal(typeof line.entry.durationMs, 'number');
  assert.match(line.raw, /"durationMs":\d+\.\d{3},/, 'durationMs always with three decimals');
  assert.deepEqual([line.stream, line.shownAs], SHOWN[line.entry.level], `level ${line.entry.level} through its console method`);
  for (const secret of [stack.key, stack.clientSecret]) assert.ok(!line.raw.includes(secret), 'no secret in the log');
  assert.ok(!line.raw.includes(seed.instance), 'no instance UUID (upstream URL) in the log');
  assert.ok(!line.raw.includes(stack.emulatorURL), 'no upstream URL in the log');
  assert.doesNotMatch(line.raw, /\*[a-z]+\.[A-Z]|Go struct|goroutine/, 'no Go internals');
}

test('a mint logs one info line naming the impersonation, user and application', async () => {
  const res = await stack.mint({ userUuid: alice.uuid, clientId: 'crm', reason: REASON });
  assert.equal(res.status, 201);
  const line = await lineOf(res);
  assertShape(line);
  assert.deepEqual(
    {
      level: line.entry.level, msg: line.entry.msg, method: line.entry.method, route: line.entry.route,
      status: line.entry.status, actor: line.entry.actor, actorKind: line.entry.actorKind,
      impersonationId: line.entry.impersonationId, targetUser: line.entry.targetUser,
      clientId: line.entry.clientId, outcome: line.entry.outcome, problem: line.entry.problem, error: line.entry.error,
    },
    {
      level: 'info', msg: 'request', method: 'POST', route: 'POST /v1/impersonations', status: 201,
      actor: stack.keyLabel, actorKind: 'api-key', impersonationId: res.json.id, targetUser: alice.uuid,
      clientId: 'crm', outcome: 'issued', problem: '', error: '',
    },
  );
  assert.ok(!line.raw.includes(res.json.token), 'the minted token is not logged');

  // The same impersonation's end carries the same id: one query finds both.
  const end = await stack.call('POST', `/v1/impersonations/${res.json.id}/end`);
  assert.equal(end.status, 200);
  const endLine = await lineOf(end);
  assertShape(endLine);
  assert.equal(endLine.entry.impersonationId, res.json.id);
  assert.equal(endLine.entry.outcome, 'ended');
  assert.equal(endLine.entry.targetUser, alice.uuid);
});

test('a denial logs one warn line with the problem and the rule outcome', async () => {
  const res = await stack.mint({ userUuid: seedUser('root-admin').uuid, clientId: 'crm', reason: REASON });
  assert.equal(res.status, 403);
  const line = await lineOf(res);
  assertShape(line);
  assert.equal(line.entry.level, 'warn');
  assert.equal(line.entry.status, 403);
  assert.equal(line.entry.outcome, 'denied');
  assert.equal(line.entry.problem, 'user-not-allowed');
  assert.equal(line.entry.targetUser, seedUser('root-admin').uuid);
  assert.equal(line.entry.clientId, 'crm');
  assert.match(line.entry.impersonationId, /^[0-9a-f-]{36}$/);
  assert.equal(line.entry.error, '');
});

test('an upstream failure logs one error line that names what failed', async () => {
  await stack.emulatorFaults({ mintStatus: 500 });
  const res = await stack.mint({ userUuid: alice.uuid, clientId: 'wiki', reason: REASON });
  assert.equal(res.status, 502);
  const line = await lineOf(res);
  assertShape(line);
  assert.equal(line.entry.level, 'error');
  assert.equal(line.entry.outcome, 'failed');
  assert.equal(line.entry.problem, 'upstream-failed');
  assert.equal(line.entry.error, 'Bare.ID impersonation-token API: status 500');
  assert.equal(line.entry.clientId, 'wiki');

  // The Worker holds a cached service token: refuse it once so a fresh one is needed.
  await stack.emulatorFaults({ tokenDown: true, mintUnauthorizedOnce: true });
  const res2 = await stack.mint({ userUuid: alice.uuid, clientId: 'crm', reason: REASON });
  assert.equal(res2.status, 502);
  const line2 = await lineOf(res2);
  assertShape(line2);
  assert.equal(line2.entry.error, 'Bare.ID token endpoint: status 503, error "temporarily_unavailable"');
});

test('every line the Worker printed has the fixed field set', () => {
  const lines = stack.workerLogLines();
  assert.ok(lines.length >= 5);
  for (const line of lines) assertShape(line);
});
