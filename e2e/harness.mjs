// The end-to-end harness: the real Worker (build/ under wrangler dev, i.e. workerd)
// against the Bare.ID emulator, with a throwaway D1 database.
//
// startStack() builds and starts the emulator on a free loopback port, writes the
// Worker's settings to a private temp env file (passed with --env-file, so the
// developer's own .dev.vars is neither read nor touched), applies the migrations into a
// temp --persist-to directory and starts `wrangler dev` on another free loopback port.
// stack.stop() (register it with after()) stops every process group it started and
// deletes the temp directory; the same happens on SIGINT/SIGTERM and at process exit.
//
// It expects build/ to exist: run `./build.sh build` (or `./build.sh test`) first.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const wranglerBin = path.join(root, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

const READY_TIMEOUT_MS = 90_000; // a cold `go build` of the emulator plus workerd start
const STOP_GRACE_MS = 5_000; // then SIGKILL
const LOG_TAIL_LINES = 40;
const ENV_FILE = 'worker.env';

// wrangler must neither send metrics nor fetch the Request.cf fixture from the internet,
// and must not pick up secrets from this process's environment.
const wranglerEnv = {
  ...process.env,
  WRANGLER_SEND_METRICS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  CLOUDFLARE_INCLUDE_PROCESS_ENV: 'false',
  CI: 'true', // non-interactive: migrations apply without a prompt
};

/** The emulator's fixed world (users, clients, service accounts). */
export const seed = JSON.parse(await readFile(path.join(root, 'emulator', 'seed.json'), 'utf8'));

/** A seeded user by username. */
export function seedUser(username) {
  const u = seed.users.find((x) => x.username === username);
  if (!u) throw new Error(`emulator/seed.json has no user ${username}`);
  return u;
}

// ---- process groups -------------------------------------------------------------------

const live = new Set(); // child processes not yet exited
const tempDirs = new Set();

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

// A process killed a moment ago (workerd, `wrangler d1 execute`) can still be writing
// into --persist-to; retrying covers that (ENOTEMPTY). The env file with the settings,
// the only secret-bearing file, goes first.
function removeTemp(dir) {
  rmSync(path.join(dir, ENV_FILE), { force: true });
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  tempDirs.delete(dir);
}

function stopAllSync() {
  for (const child of live) killGroup(child, 'SIGKILL');
  for (const dir of tempDirs) removeTemp(dir);
}

process.once('exit', stopAllSync);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, async () => {
    const exits = [...live].map((child) => new Promise((resolve) => child.once('exit', resolve)));
    for (const child of live) killGroup(child, 'SIGKILL');
    await withTimeout(Promise.all(exits), STOP_GRACE_MS, 'stopping').catch(() => {});
    stopAllSync();
    process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
  });
}

/** Starts cmd in its own process group, keeping the last lines of its output. */
function startProcess(name, cmd, args, opts = {}) {
  const child = spawn(cmd, args, {
    cwd: root,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group: one kill reaches wrangler's workerd too
  });
  live.add(child);
  const tail = [];
  const tagged = []; // {stream, line}, for tests that tell stdout from stderr
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  const onLine = (line, stream) => {
    tail.push(line);
    if (tail.length > 2000) tail.splice(0, tail.length - 2000);
    tagged.push({ stream, line });
    if (tagged.length > 2000) tagged.splice(0, tagged.length - 2000);
    opts.onLine?.(line);
  };
  createInterface({ input: child.stdout }).on('line', (l) => onLine(l, 'stdout'));
  createInterface({ input: child.stderr }).on('line', (l) => onLine(l, 'stderr'));
  return {
    name,
    child,
    exited,
    log: () => tail.join('\n'),
    lines: () => tagged.slice(),
    tail: () => tail.slice(-LOG_TAIL_LINES).join('\n'),
    async stop() {
      if (!live.has(child)) return;
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
      killGroup(child, 'SIGKILL'); // stragglers left in the group
    },
  };
}

/**
 * Runs cmd to completion in its own process group (tracked, so a signal stops it
 * too) and resolves with its stdout; rejects with its output on a non-zero exit.
 */
function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: root,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.once('error', (err) => {
      live.delete(child);
      reject(err);
    });
    child.once('close', (code, signal) => {
      live.delete(child);
      if (code === 0) resolve(stdout);
      else reject(Object.assign(new Error(`${cmd} exited ${code ?? signal}`), { stdout, stderr }));
    });
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---- the stack ------------------------------------------------------------------------

/** A new API key and its ACTAS_API_KEYS entry, with roles ("a|b") when given. */
export function newKey(label, roles) {
  const key = 'actas_' + randomBytes(32).toString('base64url');
  const entry = `${label}:${createHash('sha256').update(key).digest('hex')}`;
  return { label, key, entry: roles ? `${entry}:${roles}` : entry };
}

function envFile(vars) {
  return Object.entries(vars)
    .map(([k, v]) => {
      if (/[\n"]/.test(v)) throw new Error(`env value for ${k} cannot be written`);
      return `${k}="${v}"\n`;
    })
    .join('');
}

async function startEmulator(dir) {
  const bin = path.join(dir, 'emulator');
  try {
    await run('go', ['build', '-o', bin, './emulator']);
  } catch (err) {
    throw new Error(`go build ./emulator failed:\n${err.stderr || err.message}`);
  }
  let onReady;
  const ready = new Promise((resolve) => (onReady = resolve));
  const proc = startProcess('emulator', bin, ['-addr', '127.0.0.1:0'], {
    onLine(line) {
      if (!line.startsWith('{')) return;
      try {
        const msg = JSON.parse(line);
        if (msg.msg === 'listening' && msg.url) onReady(msg.url);
      } catch {
        // not a JSON line
      }
    },
  });
  const url = await withTimeout(
    Promise.race([
      ready,
      proc.exited.then(({ code }) => {
        throw new Error(`the emulator exited (${code}) before it was ready:\n${proc.tail()}`);
      }),
    ]),
    READY_TIMEOUT_MS,
    'the emulator start',
  );
  return { proc, url };
}

async function wrangler(args, opts = {}) {
  try {
    return await run(process.execPath, [wranglerBin, ...args], { env: wranglerEnv, ...opts });
  } catch (err) {
    const e = new Error(`wrangler ${args.slice(0, 3).join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    e.stdout = err.stdout;
    throw e;
  }
}

// How often waitHealthy polls; small, because the bench reports the time to the first
// successful answer as the Worker's cold start.
const HEALTH_POLL_MS = 25;

async function waitHealthy(url, proc) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let gone = false;
  proc.exited.then(() => (gone = true));
  while (Date.now() < deadline) {
    if (gone) throw new Error(`wrangler dev exited before it was ready:\n${proc.tail()}`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, HEALTH_POLL_MS));
  }
  throw new Error(`wrangler dev did not answer /healthz within ${READY_TIMEOUT_MS} ms:\n${proc.tail()}`);
}

/**
 * Starts `wrangler dev` on a free loopback port with extra args (config, env file,
 * --persist-to) and waits for GET /healthz to answer 200. Resolves with the process,
 * its URL and coldStartMs: the time from spawning wrangler to that first answer.
 */
export async function startWranglerDev(args, name = 'wrangler dev') {
  const port = await freePort();
  const inspectorPort = await freePort();
  const startedAt = Date.now();
  const proc = startProcess(
    name,
    process.execPath,
    [
      wranglerBin, 'dev',
      '--ip', '127.0.0.1', '--port', String(port),
      '--inspector-port', String(inspectorPort),
      '--show-interactive-dev-session=false',
      ...args,
    ],
    { env: wranglerEnv },
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(url, proc);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { proc, url, coldStartMs: Date.now() - startedAt };
}

/**
 * Starts emulator + Worker. `vars` overrides or adds Worker settings; `extraKeys`
 * (from newKey) are accepted beside the harness's own caller key.
 * Returns the stack with its helpers; call stop() from after().
 */
export async function startStack({ vars = {}, extraKeys = [] } = {}) {
  if (!existsSync(path.join(root, 'build', 'worker.mjs')) || !existsSync(path.join(root, 'build', 'app.wasm'))) {
    throw new Error('build/ is missing: run ./build.sh build first');
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'actas-e2e-')); // mode 700
  tempDirs.add(dir);
  const procs = [];
  const stack = {
    async stop() {
      await Promise.all(procs.map((p) => p.stop()));
      removeTemp(dir);
    },
  };
  try {
    const startedAt = Date.now();
    const emu = await startEmulator(dir);
    procs.push(emu.proc);

    const sa = seed.serviceAccounts[0];
    const caller = newKey('e2e');
    const settings = {
      ACTAS_DEV_LOOPBACK: 'true',
      BAREID_API_URL: emu.url,
      BAREID_INSTANCE: seed.instance,
      BAREID_TOKEN_URL: `${emu.url}/realms/${seed.realm}/protocol/openid-connect/token`,
      BAREID_CLIENT_ID: sa.clientId,
      BAREID_CLIENT_SECRET: sa.secret,
      // With ACTAS_DEV_LOOPBACK, a loopback URL's port is part of the allowed host.
      BAREID_IMPERSONATION_HOSTS: new URL(emu.url).host,
      BAREID_TIMEOUT: '2s',
      ACTAS_API_KEYS: [caller.entry, ...extraKeys.map((k) => k.entry)].join(','),
      ACTAS_CLIENTS: 'crm=Customer CRM,wiki=Team Wiki',
      ACTAS_PROTECTED_USERS: seedUser('root-admin').uuid,
      // Admins sign in at the emulator's realm with its public client.
      ACTAS_OIDC_ISSUER: `${emu.url}/realms/${seed.realm}`,
      ACTAS_OIDC_AUDIENCE: 'actas-extension',
      ACTAS_JWKS_REFETCH_INTERVAL: '2s',
      // One JSON text per line, which the tests parse (the default passes objects,
      // which Workers Logs indexes but wrangler dev prints across several lines).
      ACTAS_LOG_FORMAT: 'json',
      ...vars,
    };
    const envPath = path.join(dir, ENV_FILE);
    await writeFile(envPath, envFile(settings), { mode: 0o600 });

    const persist = path.join(dir, 'state');
    await wrangler(['d1', 'migrations', 'apply', 'AUDIT_DB', '--local', '--persist-to', persist]);

    const workerArgs = ['--persist-to', persist, '--env-file', envPath];
    let worker = await startWranglerDev(workerArgs);
    procs.push(worker.proc);
    const workerURL = worker.url;

    Object.assign(stack, {
      workerURL,
      emulatorURL: emu.url,
      key: caller.key,
      keyLabel: caller.label,
      clientSecret: sa.secret,
      readyMs: Date.now() - startedAt,
      /** Time from spawning wrangler dev to the Worker's first successful answer. */
      coldStartMs: worker.coldStartMs,
      /** Everything wrangler dev (and so the Worker's log) printed so far. */
      workerLog: () => worker.proc.log(),
      /**
       * The Worker's log lines so far: every line of wrangler dev's output that holds
       * one of the Worker's JSON log objects, parsed, with the stream it came on and
       * how wrangler marked it (console.warn as "▲ [WARNING]", console.error as
       * "✘ [ERROR]", on stderr).
       */
      workerLogLines: () => parseWorkerLog(worker.proc.lines()),
      /**
       * Stops wrangler dev and starts it again (same settings and D1 state, on a new
       * port: workerURL changes); resolves with the new cold start in ms.
       */
      async restartWorker() {
        await worker.proc.stop();
        procs.splice(procs.indexOf(worker.proc), 1);
        worker = await startWranglerDev(workerArgs);
        procs.push(worker.proc);
        stack.workerURL = worker.url;
        stack.coldStartMs = worker.coldStartMs;
        return worker.coldStartMs;
      },
      /** Everything the emulator printed so far. */
      emulatorLog: () => emu.proc.log(),

      /** POST /v1/impersonations as the harness's caller, or with key (null: no Authorization). */
      async mint(body, key = caller.key) {
        return call(stack.workerURL, 'POST', '/v1/impersonations', body, key);
      },
      /** Any Worker call; key as for mint. */
      async call(method, p, body, key = caller.key) {
        return call(stack.workerURL, method, p, body, key);
      },
      async emulatorFaults(faults) {
        await control(emu.url, 'PUT', '/_control/faults', faults);
      },
      async emulatorReset() {
        await control(emu.url, 'POST', '/_control/reset');
      },
      async emulatorStats() {
        return control(emu.url, 'GET', '/_control/stats');
      },
      /** Any emulator control call, e.g. ('POST', '/_control/tokens', {username: 'ada'}). */
      async emulator(method, p, body) {
        return control(emu.url, method, p, body);
      },
      /** Rows of a SQL statement against the Worker's local AUDIT_DB. */
      async auditRows(sql) {
        const out = await wrangler([
          'd1', 'execute', 'AUDIT_DB', '--local', '--persist-to', persist, '--json', '--command', sql,
        ]);
        return JSON.parse(out)[0].results;
      },
    });
    return stack;
  } catch (err) {
    await stack.stop();
    throw err;
  }
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

// wrangler dev prints console.warn and console.error with a coloured marker on stderr.
// eslint-disable-next-line no-control-regex -- the escape character is what ANSI colours start with
const ANSI = /\x1b\[[0-9;]*m/g;

function parseWorkerLog(lines) {
  const out = [];
  for (const { stream, line } of lines) {
    const plain = line.replace(ANSI, '');
    const at = plain.indexOf('{"time":');
    if (at < 0) continue;
    let entry;
    try {
      entry = JSON.parse(plain.slice(at).trim());
    } catch {
      continue;
    }
    const marker = plain.slice(0, at).trim();
    const shownAs = marker.includes('[ERROR]') ? 'error' : marker.includes('[WARNING]') ? 'warn' : marker === '' ? 'log' : marker;
    out.push({ stream, shownAs, raw: plain.slice(at).trim(), entry });
  }
  return out;
}

/** Quotes a value for a SQL literal. */
export function sqlString(v) {
  return `'${String(v).replaceAll("'", "''")}'`;
}
