// Rotation without downtime under wrangler dev: two keys of one label act as the same
// caller, and a second Bare.ID secret is used when the first is refused.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { newKey, seed, seedUser, sqlString, startStack } from './harness.mjs';

const alice = seedUser('alice');
const REASON = 'e2e: rotation keeps working';
const oldKey = newKey('rotating-bot');
const newKeyOfSameLabel = newKey('rotating-bot');

let stack;

before(async () => {
  stack = await startStack({
    vars: {
      ACTAS_API_KEYS: `${oldKey.entry},${newKeyOfSameLabel.entry}`,
      // The secret Bare.ID knows is only the "next" one: the first is refused, as after
      // the secret was regenerated at Bare.ID before the Worker's secret was updated.
      BAREID_CLIENT_SECRET: 'a-secret-bare-id-no-longer-accepts',
      BAREID_CLIENT_SECRET_NEXT: seed.serviceAccounts[0].secret,
      ACTAS_RATE_LIMIT: '3/1h',
    },
  });
});
after(async () => {
  await stack?.stop();
});

test('the old and the new key of a label are the same actor and share one rate limit', async () => {
  const ids = [];
  for (const k of [oldKey, newKeyOfSameLabel, oldKey]) {
    const res = await stack.mint({ userUuid: alice.uuid, clientId: 'crm', reason: REASON }, k.key);
    assert.equal(res.status, 201, `mint with a key of the label (problem: ${res.json?.type})`);
    ids.push(res.json.id);
  }
  const limited = await stack.mint({ userUuid: alice.uuid, clientId: 'crm', reason: REASON }, newKeyOfSameLabel.key);
  assert.equal(limited.status, 429, 'the fourth mint of the label is over its 3/1h, whichever key');
  const rows = await stack.auditRows(`SELECT DISTINCT actor, actor_kind FROM audit_events
    WHERE impersonation_id IN (${ids.map(sqlString).join(',')})`);
  assert.deepEqual(rows, [{ actor: 'rotating-bot', actor_kind: 'api-key' }]);
  for (const k of [oldKey, newKeyOfSameLabel]) {
    const me = await stack.call('GET', '/v1/me', undefined, k.key);
    assert.equal(me.json.actor, 'rotating-bot');
  }
});

test('a refused Bare.ID secret falls back to BAREID_CLIENT_SECRET_NEXT, once', async () => {
  // The mints above needed one service token: the refused secret was sent once, then
  // the next secret, whose token stayed cached for the following mints.
  const stats = await stack.emulatorStats();
  assert.equal(stats.tokenRequests, 2, 'one refused token request, one accepted');
  assert.ok(stats.mintRequests >= 3);
});
