// ./build.sh profile [healthz|mint]: where a request's time goes inside workerd.
//
// It starts the emulator and actas under wrangler dev (build/app.wasm must keep its
// name section, which ./build.sh profile builds), warms the Worker up, then records a
// V8 CPU profile of the Worker's isolate through wrangler's DevTools inspector while
// bench/load sends one kind of request on loopback for a bounded time. It writes
// build/bench/profile-PATH.cpuprofile (open it in Chrome DevTools' Performance panel)
// and prints the functions with the most samples, by self time and including callees.
//
// The numbers are shares of the isolate's samples, not wall time: the Worker's Go code
// (wasm function names such as github.com_actas_dev_actas_worker_server.X), the bridge
// and entry (worker.js), and workerd's own work reached from them. The inspector
// connection itself makes console calls dearer than they are without one.

import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

import WebSocket from 'ws';

import { newKey, root, seedUser, startStack } from '../e2e/harness.mjs';

const run = promisify(execFile);
const loadBin = path.join(root, 'build', 'bench', 'load');

const WARMUP = '8s'; // wasm tiers up from its baseline compiler while it runs hot
const MEASURE = '6s';
const CONCURRENCY = '8';
const SAMPLING_US = 200;
const TOP = 30;

const paths = {
  healthz: (stack) => ({ url: `${stack.workerURL}/healthz`, expect: '200' }),
  mint: (stack, key) => ({
    url: `${stack.workerURL}/v1/impersonations`,
    expect: '201',
    method: 'POST',
    body: JSON.stringify({ userUuid: seedUser('alice').uuid, clientId: 'crm', reason: 'profile: warm impersonation' }),
    authorization: `Bearer ${key.key}`,
  }),
};

function loadArgs(p, duration) {
  const args = ['-url', p.url, '-c', CONCURRENCY, '-d', duration, '-n', '100000', '-expect', p.expect, '-warmup', '0'];
  if (p.method) args.push('-method', p.method);
  if (p.body) args.push('-body', p.body);
  return args;
}

/** A DevTools protocol session over the inspector's WebSocket. */
async function inspect(port) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  if (!targets.length) throw new Error('the inspector lists no target');
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let next = 0;
  const waiting = new Map();
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data));
    const done = waiting.get(msg.id);
    if (!done) return;
    waiting.delete(msg.id);
    if (msg.error) done.reject(new Error(`${msg.error.message} (${msg.error.code})`));
    else done.resolve(msg.result);
  });
  return {
    send: (method, params = {}) => new Promise((resolve, reject) => {
      const id = ++next;
      waiting.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    }),
    close: () => ws.close(),
  };
}

/** Self and inclusive sample shares by function name. */
function summarize(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const nameOf = (n) => n.callFrame.functionName || `(anonymous ${n.callFrame.url || 'native'})`;
  const hits = new Map();
  for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  const self = new Map();
  const total = new Map();
  for (const [id, count] of hits) {
    const node = byId.get(id);
    self.set(nameOf(node), (self.get(nameOf(node)) ?? 0) + count);
    const seen = new Set();
    for (let n = node; n; n = byId.get(parent.get(n.id))) {
      const name = nameOf(n);
      if (seen.has(name)) continue; // recursion counts once
      seen.add(name);
      total.set(name, (total.get(name) ?? 0) + count);
    }
  }
  const top = (m) => [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP)
    .map(([name, n]) => ({ name, share: n / profile.samples.length }));
  return { samples: profile.samples.length, self: top(self), inclusive: top(total) };
}

async function main() {
  const which = process.argv[2] ?? 'healthz';
  if (!paths[which]) throw new Error(`usage: profile.mjs [${Object.keys(paths).join('|')}]`);
  const key = newKey('profile');
  const stack = await startStack({ vars: { ACTAS_RATE_LIMIT: '100000/1h', ACTAS_API_KEYS: key.entry } });
  try {
    const p = paths[which](stack, key);
    const env = { ...process.env, LOAD_AUTHORIZATION: p.authorization ?? '' };
    console.error(`profile: warming up ${which} for ${WARMUP}`);
    await run(loadBin, loadArgs(p, WARMUP), { env, maxBuffer: 64 << 20 });
    const session = await inspect(stack.inspectorPort);
    let profile;
    let load;
    try {
      await session.send('Profiler.enable');
      await session.send('Profiler.setSamplingInterval', { interval: SAMPLING_US });
      await session.send('Profiler.start');
      console.error(`profile: recording ${which} at concurrency ${CONCURRENCY} for ${MEASURE}`);
      load = JSON.parse((await run(loadBin, loadArgs(p, MEASURE), { env, maxBuffer: 64 << 20 })).stdout);
      ({ profile } = await session.send('Profiler.stop'));
    } finally {
      session.close();
    }
    const file = path.join(root, 'build', 'bench', `profile-${which}.cpuprofile`);
    await writeFile(file, JSON.stringify(profile));
    const s = summarize(profile);
    const pct = (x) => `${(100 * x.share).toFixed(1).padStart(5)}%  ${x.name}`;
    console.log(`${which}: ${load.requests} requests (${load.ok} answered ${p.expect}), ${s.samples} samples`);
    console.log('\nself:');
    for (const x of s.self) console.log(pct(x));
    console.log('\nincluding callees:');
    for (const x of s.inclusive) console.log(pct(x));
    console.log(`\nwrote ${path.relative(root, file)}`);
  } finally {
    await stack.stop();
  }
}

await main();
