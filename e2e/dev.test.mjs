// `./build.sh dev` as a newcomer runs it, and the README's commands against it.
//
// It runs in a copy of the checkout (a temp directory holding build.sh, tools/ and the
// config files, with the source directories and node_modules linked in), so the
// checkout's own build/, .dev.vars and .wrangler/ are never touched, on free ports
// given through ACTAS_DEV_PORT and ACTAS_EMULATOR_PORT. The printed dev key is read
// from the banner and never printed: output shown on a failure is redacted.
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, cp, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { DEV_PORTS, DEV_VARS_MARKER, root, seedUser } from '../tools/stack.mjs';

const DEV_START_TIMEOUT_MS = 300_000; // build (wasm, emulator) plus the stack
const REFUSAL_TIMEOUT_MS = 20_000; // a refused start must not build anything first
const STOP_TIMEOUT_MS = 20_000;
const LINKED = ['node_modules', 'emulator', 'worker', 'wasm', 'migrations', 'extension', 'go.mod', 'go.sum', 'package.json', 'package-lock.json'];
// Copied, not linked: build.sh and tools/stack.mjs find the checkout from their own
// location, and wrangler from its config's.
const COPIED = ['build.sh', 'wrangler.toml', 'tools'];

const execFileP = promisify(execFile);

/** Secrets out of text shown on a failure: API keys, JWTs, long random tokens. */
function redact(text) {
  return text
    .replace(/actas_[A-Za-z0-9_-]+/g, 'actas_[redacted]')
    .replace(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, '[jwt redacted]')
    .replace(/[A-Za-z0-9_-]{32,}/g, '[redacted]');
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

function listening(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

let farm;
const running = new Set();

/** Starts `./build.sh ARGS` in the farm in its own process group. */
function buildSh(args, env = {}) {
  const child = spawn('./build.sh', args, {
    cwd: farm,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  const proc = { child, out: '', err: '' };
  child.stdout.on('data', (d) => (proc.out += d));
  child.stderr.on('data', (d) => (proc.err += d));
  proc.exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  proc.shown = () => redact(`--- stdout\n${proc.out.slice(-3000)}\n--- stderr\n${proc.err.slice(-3000)}`);
  return proc;
}

async function within(promise, ms, what, proc) {
  let timer;
  try {
    return await Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s\n${proc?.shown() ?? ''}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts dev and resolves once its banner is out, with the key it printed. */
async function startDev(ports, args = []) {
  const proc = buildSh(['dev', ...args], { ACTAS_DEV_PORT: String(ports.worker), ACTAS_EMULATOR_PORT: String(ports.emulator) });
  await within(
    (async () => {
      for (;;) {
        if (/actas is running[\s\S]*KEY=actas_\S+\n/.test(proc.out)) return;
        if (proc.child.exitCode !== null) throw new Error(`./build.sh dev exited ${proc.child.exitCode}\n${proc.shown()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    })(),
    DEV_START_TIMEOUT_MS,
    './build.sh dev',
    proc,
  );
  proc.key = /KEY=(actas_\S+)/.exec(proc.out)[1];
  proc.worker = `http://127.0.0.1:${ports.worker}`;
  proc.emulator = `http://127.0.0.1:${ports.emulator}`;
  return proc;
}

/** Ctrl-C, as a terminal sends it to the foreground process group. */
async function interrupt(proc) {
  process.kill(-proc.child.pid, 'SIGINT');
  return within(proc.exited, STOP_TIMEOUT_MS, 'stopping ./build.sh dev', proc);
}

async function auditCount() {
  const { stdout } = await execFileP('npx', ['wrangler', 'd1', 'execute', 'AUDIT_DB', '--local', '--json', '--command', 'SELECT count(*) AS n FROM audit_events'], {
    cwd: farm,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
  });
  return JSON.parse(stdout)[0].results[0].n;
}

const sha256 = async (file) => createHash('sha256').update(await readFile(file)).digest('hex');

before(async () => {
  farm = await mkdtemp(path.join(tmpdir(), 'actas-dev-'));
  for (const name of LINKED) await symlink(path.join(root, name), path.join(farm, name));
  for (const name of COPIED) await cp(path.join(root, name), path.join(farm, name), { recursive: true, preserveTimestamps: true });
  await copyFile(path.join(root, 'README.md'), path.join(farm, 'README.md'));
  await writeFile(
    path.join(farm, '.dev.vars.local'),
    '# my own settings\nACTAS_CLIENTS="crm=Customer CRM,wiki=Team Wiki,billing=Billing"\n',
  );
});

after(async () => {
  for (const child of running) {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
  await Promise.all([...running].map((c) => new Promise((r) => c.once('exit', r))));
  if (farm) await rm(farm, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

describe('./build.sh dev', () => {
  let ports;
  let dev;

  test('refuses a port that is taken, before it builds anything', async () => {
    const blocker = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const taken = blocker.address().port;
    try {
      const proc = buildSh(['dev'], { ACTAS_DEV_PORT: String(taken), ACTAS_EMULATOR_PORT: String(await freePort()) });
      const { code } = await within(proc.exited, REFUSAL_TIMEOUT_MS, 'the refusal', proc);
      assert.notEqual(code, 0);
      assert.match(proc.err, new RegExp(`port ${taken} \\(the Worker, ACTAS_DEV_PORT\\) on 127\\.0\\.0\\.1 is in use`));
      await assert.rejects(stat(path.join(farm, 'build')), { code: 'ENOENT' }, 'build/ was not made');
      await assert.rejects(stat(path.join(farm, '.dev.vars')), { code: 'ENOENT' }, '.dev.vars was not written');
    } finally {
      blocker.close();
    }
  });

  test('starts the stack with .dev.vars.local over the generated settings and a generous rate limit', async () => {
    ports = { worker: await freePort(), emulator: await freePort() };
    dev = await startDev(ports);
    assert.match(dev.out, /your own settings +from \.dev\.vars\.local: ACTAS_CLIENTS\n/);
    assert.match(dev.out, /rate limit +1000\/1h per actor/);
    assert.ok(!dev.out.includes('billing=Billing'), 'the banner names overridden settings, not their values');

    const vars = await readFile(path.join(farm, '.dev.vars'), 'utf8');
    assert.ok(vars.startsWith(DEV_VARS_MARKER));
    assert.equal((await stat(path.join(farm, '.dev.vars'))).mode & 0o777, 0o600);

    const res = await fetch(`${dev.worker}/v1/clients`, { headers: { authorization: `Bearer ${dev.key}` } });
    assert.equal(res.status, 200);
    const clients = await res.json();
    assert.deepEqual(clients.map((c) => c.clientId), ['crm', 'wiki', 'billing']);
  });

  test('a second ./build.sh dev (or build) while it runs stops at once and changes nothing', async () => {
    assert.ok(dev, 'dev is running');
    const wasm = path.join(farm, 'build', 'app.wasm');
    const before = { wasm: (await stat(wasm)).mtimeMs, vars: await sha256(path.join(farm, '.dev.vars')) };
    for (const args of [['dev'], ['build']]) {
      const second = buildSh(args, { ACTAS_DEV_PORT: String(await freePort()), ACTAS_EMULATOR_PORT: String(await freePort()) });
      const { code } = await within(second.exited, REFUSAL_TIMEOUT_MS, `a second ./build.sh ${args[0]}`, second);
      assert.notEqual(code, 0);
      assert.match(second.err, /another \.\/build\.sh is running/);
    }
    assert.equal((await stat(wasm)).mtimeMs, before.wasm, 'build/ untouched');
    assert.equal(await sha256(path.join(farm, '.dev.vars')), before.vars, '.dev.vars untouched');
    assert.equal((await fetch(`${dev.worker}/healthz`)).status, 200, 'the running Worker still answers');
  });

  describe("the README's commands", () => {
    test('the variables block names the dev ports', async () => {
      const readme = await readFile(path.join(root, 'README.md'), 'utf8');
      assert.match(readme, new RegExp(`^WORKER=http://127\\.0\\.0\\.1:${DEV_PORTS.worker}$`, 'm'));
      assert.match(readme, new RegExp(`^E=http://127\\.0\\.0\\.1:${DEV_PORTS.emulator}$`, 'm'));
    });

    test('every block marked for this test runs without an error against dev', async () => {
      assert.ok(dev, 'dev is running');
      const readme = await readFile(path.join(root, 'README.md'), 'utf8');
      const blocks = [...readme.matchAll(/<!-- e2e\/dev\.test\.mjs runs[^>]*-->\n```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
      assert.ok(blocks.length >= 5, `found ${blocks.length} marked blocks`);
      // Each curl fails on an HTTP error (as `curl -s` alone would not), and the blocks
      // run as one script, in order, so later ones use what earlier ones set.
      const script = ['set -euo pipefail', 'curl() { command curl --fail-with-body --max-time 30 "$@"; }', ...blocks].join('\n');
      const proc = spawn('bash', ['-c', script], {
        cwd: farm,
        env: {
          ...process.env, WORKER: dev.worker, E: dev.emulator, KEY: dev.key,
          WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      running.add(proc);
      let out = '';
      proc.stdout.on('data', (d) => (out += d));
      proc.stderr.on('data', (d) => (out += d));
      const code = await within(
        new Promise((r) => proc.once('exit', (c) => { running.delete(proc); r(c); })),
        120_000,
        "the README's commands",
      );
      assert.equal(code, 0, `the README's commands failed:\n${redact(out.slice(-4000))}`);
      assert.match(out, /HTTP\/1\.1 302/, 'the token was redeemed');
      assert.match(out, /"event": "issued"/, 'the audit query shows the issued event');
      assert.match(out, new RegExp(`"target_user": "${seedUser('alice').uuid}"`));
      assert.match(out, /"ok":\s*true/, 'verify reports an intact chain');
    });
  });

  test('Ctrl-C stops everything; --reset starts with an empty audit database', async () => {
    assert.ok(dev, 'dev is running');
    assert.ok((await auditCount()) > 0, 'the walk-through left audit events');
    await interrupt(dev);
    assert.match(dev.err, /stopped the Worker and the emulator/);
    assert.equal(await listening(ports.worker), false, 'the Worker stopped');
    assert.equal(await listening(ports.emulator), false, 'the emulator stopped');
    assert.ok((await auditCount()) > 0, 'the audit database survives a restart');

    dev = await startDev(ports, ['--reset']);
    assert.equal(await auditCount(), 0);
    await interrupt(dev);
  });
});
