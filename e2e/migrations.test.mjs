// The Worker applies its own D1 migrations (worker/schema): on a database nobody
// migrated, after `wrangler d1 migrations apply`, and when a migration fails. Both ways
// keep the same books (d1_migrations), so either may run first.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { root, seedUser, startStack } from './harness.mjs';

const alice = seedUser('alice');
const REASON = 'e2e: first request on a new database';
const MIGRATIONS = readdirSync(path.join(root, 'migrations'))
  .filter((f) => f.endsWith('.sql'))
  .sort();

const mintBody = () => ({ userUuid: alice.uuid, clientId: 'crm', reason: REASON });

/** The Worker's JSON log lines with msg. */
function logLines(stack, msg) {
  return stack
    .workerLogLines()
    .map((l) => l.entry)
    .filter((l) => l.msg === msg);
}

/** The first log line with msg that satisfies pred, waiting for wrangler to print it. */
async function waitForLog(stack, msg, pred, ms = 5_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const line = logLines(stack, msg).find(pred);
    if (line || Date.now() > deadline) return line;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function recorded(stack) {
  return (await stack.auditRows('SELECT name FROM d1_migrations ORDER BY id')).map((r) => r.name);
}

async function objects(stack, name) {
  return stack.auditRows(`SELECT name FROM sqlite_master WHERE name = '${name}'`);
}

describe('a fresh D1 database, no wrangler d1 migrations apply', () => {
  let stack;
  before(async () => {
    stack = await startStack({ applyMigrations: false });
  });
  after(async () => {
    await stack?.stop();
  });

  test('the schema is not there before the first authenticated request', async () => {
    assert.equal((await stack.call('GET', '/healthz')).status, 200);
    assert.equal((await stack.call('GET', '/v1/me', undefined, null)).status, 401);
    assert.deepEqual(await objects(stack, 'audit_events'), []);
  });

  test('concurrent first requests migrate once and all succeed', async () => {
    const answers = await Promise.all([
      stack.mint(mintBody()),
      stack.mint(mintBody()),
      stack.call('GET', '/v1/impersonations'),
      stack.call('GET', '/v1/clients'),
      stack.mint(mintBody()),
    ]);
    assert.deepEqual(
      answers.map((a) => a.status),
      [201, 201, 200, 200, 201],
      answers.map((a) => a.json?.type ?? '').join(' '), // problem types only: the bodies hold tokens
    );
    assert.deepEqual(await recorded(stack), MIGRATIONS, 'd1_migrations names every file once, in order');
    const applied = await waitForLog(stack, 'migrations applied', () => true);
    assert.equal(applied?.detail, MIGRATIONS.join(','));
    assert.equal(logLines(stack, 'migrations applied').length, 1, 'one log line for the migration');
    const rows = await stack.auditRows("SELECT count(*) AS n FROM audit_events WHERE event = 'issued'");
    assert.equal(rows[0].n, 3);
  });

  test('wrangler then finds nothing to apply', async () => {
    const out = await stack.applyMigrations();
    assert.match(out, /No migrations to apply/);
    assert.deepEqual(await recorded(stack), MIGRATIONS);
  });
});

describe('a D1 database wrangler already migrated', () => {
  let stack;
  before(async () => {
    stack = await startStack(); // runs wrangler d1 migrations apply first
  });
  after(async () => {
    await stack?.stop();
  });

  test('the Worker applies nothing and works', async () => {
    const before = await stack.auditRows('SELECT id, name, applied_at FROM d1_migrations ORDER BY id');
    assert.deepEqual(
      before.map((r) => r.name),
      MIGRATIONS,
    );
    const res = await stack.mint(mintBody());
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(await stack.auditRows('SELECT id, name, applied_at FROM d1_migrations ORDER BY id'), before);
    assert.deepEqual(logLines(stack, 'migrations applied'), []);
  });
});

describe('a migration that fails', () => {
  let stack;
  before(async () => {
    // An index squatting on a name the first migration creates after its table: the
    // migration fails part-way, which must leave nothing of it behind.
    stack = await startStack({
      applyMigrations: false,
      setupSQL: 'CREATE TABLE squatter (x); CREATE INDEX audit_events_actor ON squatter (x);',
    });
  });
  after(async () => {
    await stack?.stop();
  });

  test('answers audit-unavailable, mints nothing, logs why, applies nothing', async () => {
    const before = await stack.emulatorStats();
    const res = await stack.mint(mintBody());
    assert.equal(res.status, 503, res.text);
    assert.equal(res.json?.type, 'urn:actas:problem:audit-unavailable');
    assert.doesNotMatch(res.text, /squatter|audit_events_actor/, 'no database detail in the answer');
    const after = await stack.emulatorStats();
    assert.equal(after.mintRequests, before.mintRequests, 'Bare.ID was not asked');

    const line = await waitForLog(stack, 'request', (l) => l.problem === 'audit-unavailable');
    assert.ok(line, 'a log line for the failed request');
    assert.equal(line.level, 'error');
    assert.match(line.error, new RegExp(`migration ${MIGRATIONS[0].replace('.', '\\.')} was not applied`));
    assert.match(line.error, /audit_events_actor/);

    assert.deepEqual(await objects(stack, 'audit_events'), [], 'no half-applied schema');
    assert.deepEqual(await recorded(stack), []);
  });

  test('once the obstacle is gone, the next request migrates and succeeds', async () => {
    await stack.auditRows('DROP INDEX audit_events_actor');
    const res = await stack.mint(mintBody());
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(await recorded(stack), MIGRATIONS);
  });
});
