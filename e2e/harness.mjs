// The end-to-end harness: the local stack of tools/stack.mjs (the emulator and the real
// Worker under wrangler dev, the same code `./build.sh dev` runs) in its `test` profile,
// plus helpers to call the Worker and the emulator and to read the audit database.
//
// startStack() starts the emulator and the Worker on free loopback ports, with the
// Worker's settings in a private temp env file (so the developer's own .dev.vars is
// neither read nor touched) and a temp D1 database. stack.stop() (register it with
// after()) stops every process group it started and deletes the temp directory; the
// same happens on SIGINT/SIGTERM and at process exit.
//
// It expects build/ to exist: run `./build.sh build` (or `./build.sh test`) first.

import * as local from '../tools/stack.mjs';

export { newKey, root, seed, seedUser, startWranglerDev } from '../tools/stack.mjs';

/**
 * Starts emulator + Worker. `vars` overrides or adds Worker settings. With
 * `applyMigrations: false` the D1 database starts empty (no `wrangler d1 migrations
 * apply`), and `setupSQL` runs against it before the Worker starts. `extraKeys` (from
 * newKey) are accepted beside the harness's own caller key.
 * Returns the stack with its helpers; call stop() from after().
 */
export async function startStack({ vars = {}, applyMigrations = true, setupSQL, extraKeys = [] } = {}) {
  const stack = await local.startStack({ profile: 'test', vars, applyMigrations, setupSQL, extraKeys });
  const { emulatorURL } = stack;
  return Object.assign(stack, {
    /** POST /v1/impersonations as the harness's caller, or with key (null: no Authorization). */
    async mint(body, key = stack.key) {
      return call(stack.workerURL, 'POST', '/v1/impersonations', body, key);
    },
    /** Any Worker call; key as for mint. */
    async call(method, p, body, key = stack.key) {
      return call(stack.workerURL, method, p, body, key);
    },
    async emulatorFaults(faults) {
      await control(emulatorURL, 'PUT', '/_control/faults', faults);
    },
    async emulatorReset() {
      await control(emulatorURL, 'POST', '/_control/reset');
    },
    async emulatorStats() {
      return control(emulatorURL, 'GET', '/_control/stats');
    },
    /** Any emulator control call, e.g. ('POST', '/_control/tokens', {username: 'ada'}). */
    async emulator(method, p, body) {
      return control(emulatorURL, method, p, body);
    },
    /** `wrangler d1 migrations apply` against the Worker's local AUDIT_DB; its output. */
    async applyMigrations() {
      return local.wrangler(['d1', 'migrations', 'apply', 'AUDIT_DB', '--local', '--persist-to', stack.persistTo]);
    },
    /** Rows of a SQL statement against the Worker's local AUDIT_DB. */
    async auditRows(sql) {
      const out = await local.wrangler([
        'd1', 'execute', 'AUDIT_DB', '--local', '--persist-to', stack.persistTo, '--json', '--command', sql,
      ]);
      return JSON.parse(out)[0].results;
    },
  });
}

async function call(base, method, p, body, key) {
  const headers = {};
  if (key !== null) headers.authorization = `Bearer ${key}`;
  let payload;
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(base + p, { method, headers, body: payload, redirect: 'manual' });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

async function control(base, method, p, body) {
  const res = await fetch(base + p, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`emulator ${method} ${p}: ${res.status} ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : undefined;
}

/** Quotes a value for a SQL literal. */
export function sqlString(v) {
  return `'${String(v).replaceAll("'", "''")}'`;
}
