// Admin identity, policy and the audit trail, end to end: the real Worker under
// wrangler dev verifies tokens the emulator issues (or signs wrong on purpose), applies
// the policy, and keeps the hash-chained trail in local D1.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { newKey, seed, seedUser, startStack } from './harness.mjs';

const PROBLEM = 'urn:actas:problem:';
const REASON = 'SUP-4711 invoices missing';
const RATE = { count: 3, windowSeconds: 6 };
const alice = seedUser('alice');
const rootAdmin = seedUser('root-admin');
const admin = (username) => seed.admins.find((a) => a.username === username);
const burst = newKey('burst');
const exporter = newKey('exporter', 'actas-auditor');

let stack;
const tokens = {}; // access tokens by admin username, kept in memory only

before(async () => {
  stack = await startStack({
    vars: {
      ACTAS_API_KEYS: `${burst.entry},${exporter.entry}`,
      ACTAS_RATE_LIMIT: `${RATE.count}/${RATE.windowSeconds}s`,
    },
  });
  for (const username of ['ada', 'grace', 'nora']) {
    tokens[username] = (await stack.emulator('POST', '/_control/tokens', { username })).access_token;
  }
});
after(async () => {
  await stack?.stop();
});

const mintBody = (userUuid = alice.uuid, reason = REASON) => ({ userUuid, clientId: 'crm', reason });

function assertProblem(res, status, slug) {
  assert.equal(res.status, status, `status (problem: ${res.json?.type} ${res.json?.detail})`);
  assert.equal(res.json?.type, PROBLEM + slug);
  for (const t of Object.values(tokens)) assert.ok(!res.text.includes(t), 'problem body repeats a token');
}

/** A validly signed token for ada with claims or header changed (the emulator's test double). */
async function forged(change) {
  return (await stack.emulator('POST', '/_control/sign', { username: 'ada', ...change })).jwt;
}

async function asAuditor(path, accept) {
  const res = await fetch(stack.workerURL + path, {
    headers: { authorization: `Bearer ${tokens.grace}`, ...(accept ? { accept } : {}) },
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('OIDC admin tokens', () => {
  test('a signed-in impersonator mints, and the trail names the human', async () => {
    const me = await stack.call('GET', '/v1/me', undefined, tokens.ada);
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.actor, admin('ada').email);
    assert.equal(me.json.actorKind, 'oidc');
    assert.deepEqual(me.json.permissions, ['impersonate']);

    const res = await stack.mint(mintBody(), tokens.ada);
    assert.equal(res.status, 201, res.text);
    const rec = JSON.parse((await asAuditor(`/v1/impersonations/${res.json.id}`)).text);
    assert.equal(rec.actor, admin('ada').email);
    assert.equal(rec.actorKind, 'oidc');
    assert.equal(rec.outcome, 'issued');
    assert.equal(rec.reason, REASON);
  });

  const refused = {
    'alg none': { header: { alg: 'none' } },
    'HS256 keyed with the RSA public key': { header: { alg: 'HS256' } },
    'wrong issuer': { claims: { iss: 'https://elsewhere.example/realms/demo' } },
    'wrong audience': { claims: { aud: 'someone-else', azp: 'someone-else' } },
    expired: { claims: { exp: Math.floor(Date.now() / 1000) - 120 } },
    'nbf beyond the skew': { claims: { nbf: Math.floor(Date.now() / 1000) + 600 } },
    'an ID token': { claims: { typ: 'ID' } },
  };
  for (const [name, change] of Object.entries(refused)) {
    test(`refused: ${name}`, async () => {
      const before = await stack.emulatorStats();
      assertProblem(await stack.mint(mintBody(), await forged(change)), 401, 'unauthenticated');
      const after = await stack.emulatorStats();
      assert.equal(after.mintRequests, before.mintRequests, 'Bare.ID was not asked');
    });
  }

  test('an admin without the impersonator role is refused, and audited', async () => {
    assertProblem(await stack.mint(mintBody(), tokens.nora), 403, 'forbidden');
    assertProblem(await stack.mint(mintBody(), await forged({ claims: { resource_access: null } })), 403, 'forbidden');
  });

  test('an auditor cannot impersonate but reads everything', async () => {
    assertProblem(await stack.mint(mintBody(), tokens.grace), 403, 'forbidden');
    const me = await stack.call('GET', '/v1/me', undefined, tokens.grace);
    assert.deepEqual(me.json.permissions, ['audit']);
    const list = JSON.parse((await asAuditor('/v1/impersonations?actor=' + encodeURIComponent(admin('nora').email))).text);
    assert.ok(list.items.length >= 1, 'nora\'s refused attempt is in the trail');
    assert.equal(list.items[0].outcome, 'denied');
    assert.equal(list.items[0].outcomeDetail, 'no-impersonate-role');
  });

  test('unknown kid: a flood costs at most one key fetch per interval, a rotated key is picked up', async () => {
    const interval = 2000;
    const start = await stack.emulatorStats();
    const t0 = Date.now();
    const flood = await Promise.all(
      Array.from({ length: 20 }, (_, i) => forged({ header: { kid: `made-up-${i}-${Math.random()}` } })),
    );
    for (const jwt of flood) assertProblem(await stack.mint(mintBody(), jwt), 401, 'unauthenticated');
    const fetched = (await stack.emulatorStats()).jwksRequests - start.jwksRequests;
    const allowed = 1 + Math.floor((Date.now() - t0) / interval);
    assert.ok(fetched <= allowed, `${fetched} JWKS fetches during the flood, at most ${allowed} allowed`);

    await stack.emulator('POST', '/_control/rotate-keys', {});
    const rotated = (await stack.emulator('POST', '/_control/tokens', { username: 'ada' })).access_token;
    await sleep(interval + 200); // past the refetch interval
    const before = (await stack.emulatorStats()).jwksRequests;
    assert.equal((await stack.call('GET', '/v1/me', undefined, rotated)).status, 200, 'the rotated key verifies');
    assert.equal((await stack.call('GET', '/v1/me', undefined, rotated)).status, 200);
    assert.equal((await stack.emulatorStats()).jwksRequests - before, 1, 'one fetch for the new kid, then cached');
    tokens.ada = rotated;
  });
});

describe('policy', () => {
  test('a protected user and an unknown user get the same answer', async () => {
    const prot = await stack.mint(mintBody(rootAdmin.uuid), tokens.ada);
    const unknown = await stack.mint(mintBody('0e5c2f1a-9b8d-4c7e-a6f5-3d2c1b0a9f8e'), tokens.ada);
    assertProblem(prot, 403, 'user-not-allowed');
    assertProblem(unknown, 403, 'user-not-allowed');
    const strip = ({ requestId: _requestId, ...rest }) => rest;
    assert.deepEqual(strip(prot.json), strip(unknown.json));
  });

  test('nobody impersonates themself', async () => {
    const res = await stack.mint(mintBody(admin('ada').uuid), tokens.ada);
    assertProblem(res, 403, 'user-not-allowed');
    const trail = JSON.parse((await asAuditor('/v1/impersonations?outcome=denied&user=' + admin('ada').uuid)).text);
    assert.equal(trail.items[0].outcomeDetail, 'self');
  });

  test('reasons: missing and short are refused, CR-LF is stored as given', async () => {
    assertProblem(await stack.mint(mintBody(alice.uuid, ''), tokens.ada), 400, 'reason-required');
    assertProblem(await stack.mint(mintBody(alice.uuid, 'SUP-1'), tokens.ada), 400, 'reason-required');
    const reason = 'SUP-9 first line\r\nsecond, "quoted" line';
    const res = await stack.mint(mintBody(alice.uuid, reason), burst.key);
    assert.equal(res.status, 201, res.text);
    const rec = JSON.parse((await asAuditor(`/v1/impersonations/${res.json.id}`)).text);
    assert.equal(rec.reason, reason);
  });

  test('the rate limit answers 429 with Retry-After, then recovers', async () => {
    await sleep(RATE.windowSeconds * 1000); // a fresh window for burst
    for (let i = 0; i < RATE.count; i++) {
      assert.equal((await stack.mint(mintBody(), burst.key)).status, 201);
    }
    const limited = await stack.mint(mintBody(), burst.key);
    assertProblem(limited, 429, 'rate-limited');
    const retry = Number(limited.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= RATE.windowSeconds, `Retry-After ${retry}`);
    await sleep(retry * 1000 + 300);
    assert.equal((await stack.mint(mintBody(), burst.key)).status, 201, 'minting works again');
  });
});

describe('audit trail', () => {
  test('CSV and NDJSON exports hold the same records', async () => {
    const ndjson = await asAuditor('/v1/impersonations', 'application/x-ndjson');
    const csv = await asAuditor('/v1/impersonations', 'text/csv');
    assert.equal(ndjson.status, 200);
    assert.match(csv.headers.get('content-type'), /^text\/csv/);
    const records = ndjson.text.trim().split('\n').map((l) => JSON.parse(l));
    const rows = parseCSV(csv.text);
    const header = rows.shift();
    assert.equal(rows.length, records.length);
    const col = (name) => header.indexOf(name);
    records.forEach((rec, i) => {
      assert.equal(rows[i][col('id')], rec.id);
      assert.equal(rows[i][col('actor')], rec.actor);
      assert.equal(rows[i][col('outcome')], rec.outcome);
      assert.equal(rows[i][col('reason')], rec.reason);
      assert.equal(Date.parse(rows[i][col('requestedAt')]), Date.parse(rec.requestedAt));
    });
    // An API key with the auditor role exports too; an impersonator sees only their own.
    const viaKey = await stack.call('GET', '/v1/impersonations?limit=500', undefined, exporter.key);
    assert.equal(viaKey.json.items.length, records.length);
    const own = await stack.call('GET', '/v1/impersonations?limit=500', undefined, burst.key);
    assert.ok(own.json.items.length > 0 && own.json.items.every((r) => r.actor === burst.label));
    for (const t of Object.values(tokens)) assert.ok(!ndjson.text.includes(t) && !csv.text.includes(t));
  });

  test('the chain verifies, and an event edited in SQLite is found', async () => {
    const ok = JSON.parse((await asAuditor('/v1/impersonations/verify')).text);
    assert.equal(ok.ok, true, JSON.stringify(ok));
    assert.ok(ok.events > 10);
    await stack.auditRows('DROP TRIGGER audit_events_no_update');
    await stack.auditRows("UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 3");
    const broken = JSON.parse((await asAuditor('/v1/impersonations/verify')).text);
    assert.equal(broken.ok, false);
    assert.equal(broken.firstBreak.seq, 3);
    assert.match(broken.firstBreak.problem, /edited/);
  });
});

/** RFC 4180 CSV into rows of cells (quoted cells may hold commas, quotes and newlines). */
function parseCSV(text) {
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += c;
  }
  if (cell !== '' || row.length) rows.push([...row, cell]);
  return rows;
}
