// Push, anchoring and retention of the audit trail under wrangler dev: a loopback
// receiver that refuses the first deliveries gets every event, signed and in order;
// the anchor cron publishes the verified head, which later proves a truncation; an
// archived prefix is removed only through the checkpoint operation.
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { newKey, seedUser, startStack } from './harness.mjs';

const alice = seedUser('alice');
// <, > and & are where the hash's canonical encoding (Go's) differs from JSON.stringify.
const REASON = 'e2e: push every audit event <a&b> — naïve';
const SECRET = randomBytes(32);
const FAIL_FIRST = 3;
const auditor = newKey('trail-keeper', 'actas-auditor');

// ---- the receiver ---------------------------------------------------------------------

const received = []; // {id, timestamp, signature, body, json}
let refusals = 0;
const receiver = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (refusals < FAIL_FIRST) {
      refusals++;
      res.writeHead(503).end('receiver down');
      return;
    }
    const body = Buffer.concat(chunks);
    received.push({
      id: req.headers['webhook-id'],
      timestamp: req.headers['webhook-timestamp'],
      signature: req.headers['webhook-signature'],
      body,
      json: JSON.parse(body.toString('utf8')),
    });
    res.writeHead(204).end();
  });
});

/** What a receiver checks (examples/webhook-receiver.mjs does the same). */
function signatureValid(m) {
  const expected = createHmac('sha256', SECRET).update(`${m.id}.${m.timestamp}.`).update(m.body).digest('base64');
  return m.signature.split(' ').some((s) => s === `v1,${expected}`);
}

let stack;

before(async () => {
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  stack = await startStack({
    extraKeys: [auditor],
    vars: {
      ACTAS_WEBHOOK_URL: `http://127.0.0.1:${receiver.address().port}/audit`,
      ACTAS_WEBHOOK_SECRET: `whsec_${SECRET.toString('base64')}`,
      ACTAS_WEBHOOK_RETRY: '1s',
      ACTAS_AUDIT_RETENTION: '1s',
    },
  });
});
after(async () => {
  await stack?.stop();
  receiver.close();
});

async function cron(expr) {
  const res = await fetch(`${stack.workerURL}/cdn-cgi/handler/scheduled?cron=${encodeURIComponent(expr)}`);
  assert.equal(res.status, 200, `scheduled run ${expr}`);
  await res.text();
}

/** Runs the delivery cron until pred holds on what arrived (bounded). */
async function until(pred, what) {
  for (let i = 0; i < 40; i++) {
    if (pred()) return;
    await cron('*/5 * * * *');
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.fail(`${what}: received ${received.map((m) => m.id).join(' ')}`);
}

const firstArrivals = () => {
  const seen = new Map();
  for (const m of received) if (!seen.has(m.id)) seen.set(m.id, m);
  return [...seen.values()];
};
const events = () => firstArrivals().filter((m) => m.json.type === 'audit.event');

test('every audit event arrives, signed, in order, despite a receiver that refuses at first', async () => {
  const a = await stack.mint({ userUuid: alice.uuid, clientId: 'crm', reason: REASON }, stack.key);
  assert.equal(a.status, 201, `mint (problem: ${a.json?.type})`);
  const b = await stack.mint({ userUuid: seedUser('root-admin').uuid, clientId: 'crm', reason: REASON }, stack.key);
  assert.equal(b.status, 403);
  const c = await stack.mint({ userUuid: alice.uuid, clientId: 'wiki', reason: REASON }, stack.key);
  assert.equal(c.status, 201);
  assert.equal((await stack.call('POST', `/v1/impersonations/${c.json.id}/end`)).status, 200);

  const rows = await stack.auditRows('SELECT seq, impersonation_id, event, hash FROM audit_events ORDER BY seq');
  assert.equal(rows.length, 7);
  await until(() => events().length >= rows.length, 'all events delivered');

  assert.equal(refusals, FAIL_FIRST, 'the receiver refused the first deliveries');
  for (const m of received) {
    assert.ok(signatureValid(m), `signature of ${m.id}`);
    assert.ok(Math.abs(Date.now() / 1000 - Number(m.timestamp)) < 300, 'webhook-timestamp is now');
  }
  const got = events();
  assert.deepEqual(got.map((m) => m.json.data.seq), rows.map((r) => r.seq), 'each event once by webhook-id, in chain order');
  assert.deepEqual(got.map((m) => m.json.data.hash), rows.map((r) => r.hash));
  assert.deepEqual(got.map((m) => m.json.data.event), ['requested', 'issued', 'requested', 'denied', 'requested', 'issued', 'ended']);
  assert.equal(got[1].json.data.impersonationId, a.json.id);
  assert.equal(got[1].json.data.userUuid, alice.uuid);
  assert.equal(new Set(got.map((m) => m.id)).size, got.length, 'webhook-id names one event');
  for (const m of received) assert.ok(!m.body.toString().includes(a.json.token), 'no token in a message');

  const outbox = await stack.auditRows('SELECT COUNT(*) AS n FROM webhook_outbox');
  assert.equal(outbox[0].n, 0, 'delivered messages leave the outbox');
  const failedLines = stack.workerLogLines().filter((l) => l.entry.msg === 'webhook-failed');
  assert.ok(failedLines.length >= 1 && failedLines.every((l) => l.entry.level === 'warn' && l.entry.error === 'receiver answered 503'));
});

let anchor;
test('the anchor cron publishes the verified head, signed, to the webhook and the log', async () => {
  await cron('0 3 * * *');
  await until(() => firstArrivals().some((m) => m.json.type === 'audit.anchor'), 'anchor delivered');
  const msg = firstArrivals().find((m) => m.json.type === 'audit.anchor');
  assert.equal(msg.json.data.ok, true);
  assert.equal(msg.json.data.headSeq, 7);
  anchor = { seq: msg.json.data.headSeq, hash: msg.json.data.headHash };

  const line = stack.workerLogLines().find((l) => l.entry.msg === 'audit-anchor');
  assert.ok(line, 'an audit-anchor log line');
  assert.equal(line.entry.level, 'info');
  assert.equal(line.entry.seq, anchor.seq);
  assert.equal(line.entry.hash, anchor.hash);
  const sig = createHmac('sha256', SECRET).update(`anchor.${anchor.seq}.${anchor.hash}.${line.entry.time}`).digest('base64');
  assert.equal(line.entry.detail, `v1,${sig}`, 'the log line carries the head signed with the webhook secret');

  const v = await stack.call('GET', `/v1/impersonations/verify?seq=${anchor.seq}&hash=${anchor.hash}`, undefined, auditor.key);
  assert.equal(v.status, 200);
  assert.equal(v.json.ok, true);
  assert.equal(v.json.anchor.status, 'matches');
});

test('old events are archived and removed only as a prefix through a checkpoint', async () => {
  await new Promise((r) => setTimeout(r, 1100)); // older than ACTAS_AUDIT_RETENTION=1s
  await assert.rejects(
    stack.auditRows('DELETE FROM audit_events WHERE seq = 1'),
    /append-only/,
    'a delete outside the checkpoint operation is refused',
  );
  const res = await fetch(`${stack.workerURL}/v1/audit/archive?through=4`, { headers: { authorization: `Bearer ${auditor.key}` } });
  assert.equal(res.status, 200);
  const text = await res.text();
  const sha = createHash('sha256').update(text).digest('hex');
  assert.equal(res.headers.get('x-archive-sha256'), sha);
  const lines = text.trim().split('\n').map((l) => JSON.parse(l));
  const trailer = lines.pop();
  assert.deepEqual(trailer.archive.head, { seq: 4, hash: res.headers.get('x-archive-head-hash') });
  assert.equal(lines.length, 4);
  // Each archived event's hash can be recomputed from its columns as the README says
  // ("The hash's canonical encoding").
  const canonical = (columns) =>
    JSON.stringify(columns).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  let prev = '0'.repeat(64);
  for (const ev of lines) {
    const cols = [ev.seq, ev.impersonation_id, ev.event, ev.at, ev.actor, ev.actor_kind, ev.target_user,
      ev.client_id, ev.reason, ev.request_id, ev.client_ip, ev.user_agent, ev.detail, ev.upstream_status,
      ev.expires_at, ev.prev_hash];
    assert.equal(ev.prev_hash, prev);
    assert.equal(createHash('sha256').update(canonical(cols)).digest('hex'), ev.hash, `hash of archived event ${ev.seq}`);
    prev = ev.hash;
  }

  const wrong = await stack.call('POST', '/v1/audit/checkpoints', { seq: 4, hash: trailer.archive.head.hash, archiveSha256: 'a'.repeat(64) }, auditor.key);
  assert.equal(wrong.status, 409);
  assert.equal(wrong.json.type, 'urn:actas:problem:checkpoint-rejected');
  const notAuditor = await stack.call('POST', '/v1/audit/checkpoints', { seq: 4, hash: trailer.archive.head.hash, archiveSha256: sha });
  assert.equal(notAuditor.status, 403);

  const ok = await stack.call('POST', '/v1/audit/checkpoints', { seq: 4, hash: trailer.archive.head.hash, archiveSha256: sha }, auditor.key);
  assert.equal(ok.status, 201, `checkpoint (problem: ${ok.json?.type} ${ok.json?.detail})`);
  assert.equal(ok.json.removed, 4);
  assert.equal(ok.json.checkpoint.actor, 'trail-keeper');
  const left = await stack.auditRows('SELECT MIN(seq) AS first, COUNT(*) AS n FROM audit_events');
  assert.deepEqual(left, [{ first: 5, n: 3 }]);

  const v = await stack.call('GET', `/v1/impersonations/verify?seq=${anchor.seq}&hash=${anchor.hash}`, undefined, auditor.key);
  assert.equal(v.json.ok, true, 'the rest verifies from the checkpoint');
  assert.deepEqual(v.json.checkpoint, { seq: 4, hash: trailer.archive.head.hash });
  assert.equal(v.json.events, 3);
  assert.equal(v.json.anchor.status, 'matches');

  await until(() => firstArrivals().some((m) => m.json.type === 'audit.checkpoint'), 'checkpoint pushed');
  const cp = firstArrivals().find((m) => m.json.type === 'audit.checkpoint');
  assert.equal(cp.json.data.archiveSha256, sha);
  assert.equal(cp.json.data.actor, 'trail-keeper');
});

test('a published head proves that the tail was cut off', async () => {
  // An attacker with database access drops the trigger and removes the newest events.
  await stack.auditRows('DROP TRIGGER audit_events_no_delete');
  await stack.auditRows('DELETE FROM audit_events WHERE seq >= 6');
  const plain = await stack.call('GET', '/v1/impersonations/verify', undefined, auditor.key);
  assert.equal(plain.json.ok, true, 'without an anchor a cut-off tail looks like a shorter chain');
  const anchored = await stack.call('GET', `/v1/impersonations/verify?seq=${anchor.seq}&hash=${anchor.hash}`, undefined, auditor.key);
  assert.equal(anchored.json.ok, false);
  assert.equal(anchored.json.anchor.status, 'removed');
  assert.equal(anchored.json.firstBreak.seq, 6);
});
