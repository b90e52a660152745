// ./build.sh bench: actas under wrangler dev against the plain-JavaScript reference
// Worker (bench/reference), on loopback, in one run.
//
// It measures, alternating ours and the reference phase by phase so that drift on the
// machine hits both alike: GET /healthz latency and throughput at concurrency 1 and 8;
// warm POST /v1/impersonations latency and throughput (the reference does the same
// mint work, bench/reference/worker.mjs), with the emulator's upstream request counts
// and the D1 round trips per impersonation the bridge counted; the same mints again
// with an artificial delay before every D1 round trip (D1_DELAY_MS, on both Workers),
// as a remote database would add; every non-2xx answer of every phase; cold start
// (spawning wrangler dev to the first 200); the wasm's size by Go package (bench/size
// over a build with symbols); and the size of what `wrangler deploy` would upload. It
// prints one `name value` line per figure and a table, and writes the same to
// build/bench/results.json.
//
// A missed target is reported, never an error: this exits non-zero only if it cannot run.
// Load comes from bench/load (built by build.sh into build/bench/load), loopback only.

import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';

import { newKey, root, seed, seedUser, startStack, startWranglerDev } from '../e2e/harness.mjs';

const run = promisify(execFile);
const outDir = path.join(root, 'build', 'bench');
const loadBin = path.join(outDir, 'load');
const sizeBin = path.join(outDir, 'size');
const symbolsWasm = path.join(outDir, 'app-symbols.wasm');
const referenceConfig = path.join(root, 'bench', 'reference', 'wrangler.toml');
const wranglerJS = path.join(root, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
const wranglerEnv = { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', CI: 'true' };

// How much to measure. Each phase is short and repeated, ours and the reference taking
// turns, and samples of the same kind are merged before percentiles are taken.
const ROUNDS = 3; // healthz rounds; each runs c1 and c8 for both Workers
const PHASE = '2s';
const IMPERSONATION_ROUNDS = 2;
const D1_DELAY_MS = 20; // the delayed mode's wait before each D1 round trip
const COLD_STARTS = 3; // per Worker, alternating; the median is reported
const WARMUP_PER_CLIENT = 20;

// The issue's targets, reported beside the figures.
const TARGETS = {
  non_2xx: { max: 0 },
  impersonation_c1_p50_ratio: { max: 1.0 },
  impersonation_c8_rps_ratio: { min: 2.0 },
  d1_round_trips_per_impersonation: { max: 2 },
  healthz_c1_p50_ratio: { max: 1.3 },
  healthz_c8_rps_ratio: { min: 0.9 },
  upstream_requests_per_impersonation: { max: 1.05 },
  wasm_gzip_bytes: { max: 2_000_000 },
  cold_start_ratio: { max: 1.3 },
};

// The size breakdown's figures: this many largest packages by code bytes.
const SIZE_TOP_PACKAGES = 15;

/** Starts the reference Worker with its own local D1 (migrated) and the stack's Bare.ID. */
async function startReference(stack, key, extra = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'actas-bench-ref-'));
  const sa = seed.serviceAccounts[0];
  const vars = {
    ACTAS_API_KEYS: key.entry,
    BAREID_API_URL: stack.emulatorURL,
    BAREID_INSTANCE: seed.instance,
    BAREID_TOKEN_URL: `${stack.emulatorURL}/realms/${seed.realm}/protocol/openid-connect/token`,
    BAREID_CLIENT_ID: sa.clientId,
    BAREID_CLIENT_SECRET: sa.secret,
    ...extra,
  };
  const envPath = path.join(dir, 'reference.env');
  await writeFile(envPath, Object.entries(vars).map(([k, v]) => `${k}="${v}"\n`).join(''), { mode: 0o600 });
  const persist = path.join(dir, 'state');
  await run(process.execPath, [wranglerJS, 'd1', 'migrations', 'apply', 'AUDIT_DB', '--local', '-c', referenceConfig,
    '--persist-to', persist], { cwd: root, env: wranglerEnv });
  const args = ['-c', referenceConfig, '--persist-to', persist, '--env-file', envPath];
  const ref = await startWranglerDev(args, 'reference wrangler dev');
  return {
    ...ref,
    async restart() {
      await this.proc.stop(); // this.proc: the process the last restart started
      Object.assign(this, await startWranglerDev(args, 'reference wrangler dev'));
      return this.coldStartMs;
    },
    async stop() {
      await this.proc.stop();
      await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
}

/** The wasm's code bytes by Go package, from a build that keeps its name section. */
async function sizeBreakdown() {
  await run('go', ['build', '-trimpath', '-o', symbolsWasm, './wasm'], {
    cwd: root, env: { ...process.env, GOOS: 'js', GOARCH: 'wasm' },
  });
  const { stdout } = await run(sizeBin, [symbolsWasm]);
  return JSON.parse(stdout);
}

async function load(url, { c, n = 100_000, method = 'GET', body, expect = 200, authorization, warmup = WARMUP_PER_CLIENT }) {
  const args = ['-url', url, '-c', String(c), '-d', PHASE, '-n', String(n), '-expect', String(expect),
    '-warmup', String(warmup), '-method', method];
  if (body !== undefined) args.push('-body', JSON.stringify(body));
  const env = { ...process.env, LOAD_AUTHORIZATION: authorization ?? '' };
  const { stdout } = await run(loadBin, args, { env, maxBuffer: 64 << 20 });
  return JSON.parse(stdout);
}

/** Merges load results of one kind: samples pooled, rates over the summed time. */
function merge(results) {
  const lat = results.flatMap((r) => r.latenciesUs).sort((a, b) => a - b);
  const pct = (p) => (lat.length ? lat[Math.max(0, Math.min(lat.length - 1, Math.round(lat.length * p) - 1))] / 1000 : 0);
  const requests = results.reduce((n, r) => n + r.requests, 0);
  const seconds = results.reduce((n, r) => n + r.seconds, 0);
  const statuses = {};
  for (const r of results) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  return {
    requests,
    ok: results.reduce((n, r) => n + r.ok, 0),
    errors: results.reduce((n, r) => n + r.errors, 0),
    firstError: results.find((r) => r.firstError)?.firstError,
    statuses,
    p50: pct(0.5),
    p99: pct(0.99),
    rps: seconds ? requests / seconds : 0,
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x, d = 2) => Number(x.toFixed(d));
const gzipBytes = (buf) => gzipSync(buf, { level: 9 }).length;

async function uploadSizes() {
  const dry = path.join(root, 'build', 'dry');
  const { stdout } = await run(process.execPath, [
    path.join(root, 'node_modules', 'wrangler', 'bin', 'wrangler.js'), 'deploy', '--dry-run', '--outdir', dry,
  ], { cwd: root, env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' } });
  const files = [];
  for (const name of (await readdir(dry)).sort()) {
    const buf = await readFile(path.join(dry, name));
    files.push({ name, raw: buf.length, gzip: gzipBytes(buf) });
  }
  const m = stdout.match(/Total Upload:\s*([\d.]+) KiB \/ gzip:\s*([\d.]+) KiB/);
  return { files, wranglerTotalKiB: m ? Number(m[1]) : null, wranglerGzipKiB: m ? Number(m[2]) : null };
}

/** A mint phase's load options for base with key. */
function mintLoad(base, key, c, extra = {}) {
  const body = { userUuid: seedUser('alice').uuid, clientId: 'crm', reason: 'bench: warm impersonation' };
  return load(`${base}/v1/impersonations`, {
    c, method: 'POST', body, expect: 201, authorization: `Bearer ${key.key}`, warmup: 0, ...extra,
  });
}

async function d1RoundTrips(stack) {
  const res = await stack.call('GET', '/_test/stats', undefined, null);
  if (res.status !== 200) throw new Error(`/_test/stats answered ${res.status}`);
  return res.json.d1RoundTrips;
}

/** Mints against both Workers at c1 and c8, taking turns; counts ours' upstream and D1 work. */
async function mintRounds(stack, ref, key, rounds) {
  const imp = { ours: { 1: [], 8: [] }, js: { 1: [], 8: [] } };
  const work = { token: 0, mint: 0, issued: 0, d1: 0 };
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? ['ours', 'js'] : ['js', 'ours'];
    for (const c of [1, 8]) {
      for (const who of order) {
        const base = who === 'ours' ? stack.workerURL : ref.url;
        // Warm-up outside the counted window, so a first token fetch is not counted.
        imp[who].warmup = [...(imp[who].warmup ?? []), await mintLoad(base, key, c, { n: 2 * c })];
        if (who === 'js') {
          imp.js[c].push(await mintLoad(base, key, c));
          continue;
        }
        const before = await stack.emulatorStats();
        const d1Before = await d1RoundTrips(stack);
        const res = await mintLoad(base, key, c);
        const after = await stack.emulatorStats();
        work.d1 += (await d1RoundTrips(stack)) - d1Before;
        imp.ours[c].push(res);
        work.token += after.tokenRequests - before.tokenRequests;
        work.mint += after.mintRequests - before.mintRequests;
        work.issued += res.statuses['201'] ?? 0;
      }
    }
  }
  return { imp, work };
}

/** Answers that were not 2xx, transport failures included. */
function non2xx(r) {
  const ok = Object.entries(r.statuses).filter(([status]) => status.startsWith('2')).reduce((n, [, v]) => n + v, 0);
  return r.requests - ok;
}

async function main() {
  for (const bin of [loadBin, sizeBin]) {
    await stat(bin).catch(() => {
      throw new Error(`${bin} is missing: run ./build.sh bench`);
    });
  }
  const figures = {};
  const put = (name, value) => (figures[name] = value);
  const all = []; // every load result, for the non-2xx count
  const key = newKey('bench');
  // A rate limit that never bites but is still counted, as in production; the test
  // hooks report the bridge's D1 round trips.
  const vars = { ACTAS_RATE_LIMIT: '100000/1h', ACTAS_API_KEYS: key.entry, ACTAS_TEST_HOOKS: 'true' };

  console.error('bench: starting the emulator, actas and the JavaScript reference under wrangler dev');
  let stack = await startStack({ vars });
  let ref;
  try {
    ref = await startReference(stack, key);
    const cold = { ours: [stack.coldStartMs], js: [ref.coldStartMs] };
    for (let i = 1; i < COLD_STARTS; i++) {
      cold.ours.push(await stack.restartWorker());
      cold.js.push(await ref.restart());
    }

    // GET /healthz, both Workers, c1 and c8, taking turns.
    const hz = { ours: { 1: [], 8: [] }, js: { 1: [], 8: [] } };
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? ['ours', 'js'] : ['js', 'ours'];
      for (const c of [1, 8]) {
        for (const who of order) {
          const base = who === 'ours' ? stack.workerURL : ref.url;
          hz[who][c].push(await load(`${base}/healthz`, { c }));
        }
      }
    }
    const { imp, work } = await mintRounds(stack, ref, key, IMPERSONATION_ROUNDS);

    for (const c of [1, 8]) {
      const o = merge(hz.ours[c]);
      const j = merge(hz.js[c]);
      all.push(...hz.ours[c], ...hz.js[c]);
      put(`healthz_c${c}_p50_ms`, round(o.p50, 3));
      put(`healthz_c${c}_p50_ms_js`, round(j.p50, 3));
      put(`healthz_c${c}_p50_ratio`, round(o.p50 / j.p50));
      put(`healthz_c${c}_p99_ms`, round(o.p99, 3));
      put(`healthz_c${c}_p99_ms_js`, round(j.p99, 3));
      put(`healthz_c${c}_p99_ratio`, round(o.p99 / j.p99));
      put(`healthz_c${c}_rps`, round(o.rps, 1));
      put(`healthz_c${c}_rps_js`, round(j.rps, 1));
      put(`healthz_c${c}_rps_ratio`, round(o.rps / j.rps));
    }
    putMints(put, imp, all, '');
    const n = Math.max(1, work.issued);
    put('impersonations_issued', work.issued);
    put('token_requests_per_impersonation', round(work.token / n, 3));
    put('mint_requests_per_impersonation', round(work.mint / n, 3));
    put('upstream_requests_per_impersonation', round((work.token + work.mint) / n, 3));
    put('d1_round_trips_per_impersonation', round(work.d1 / n, 3));

    put('cold_start_ms', median(cold.ours));
    put('cold_start_ms_js', median(cold.js));
    put('cold_start_ratio', round(median(cold.ours) / median(cold.js)));

    // The delayed mode: both Workers again, each D1 round trip D1_DELAY_MS later.
    console.error(`bench: mints with ${D1_DELAY_MS} ms before every D1 round trip`);
    await ref.stop();
    ref = undefined;
    await stack.stop();
    const delay = { ACTAS_TEST_D1_DELAY_MS: String(D1_DELAY_MS) };
    stack = await startStack({ vars: { ...vars, ...delay } });
    ref = await startReference(stack, key, { ...delay, ACTAS_TEST_HOOKS: 'true' });
    const delayed = await mintRounds(stack, ref, key, 1);
    putMints(put, delayed.imp, all, `_d1delay${D1_DELAY_MS}`);
    put(`d1_round_trips_per_impersonation_d1delay${D1_DELAY_MS}`, round(delayed.work.d1 / Math.max(1, delayed.work.issued), 3));
  } finally {
    await ref?.stop();
    await stack.stop();
  }
  put('non_2xx', all.reduce((sum, r) => sum + non2xx(r), 0));

  const wasm = await readFile(path.join(root, 'build', 'app.wasm'));
  put('wasm_raw_bytes', wasm.length);
  put('wasm_gzip_bytes', gzipBytes(wasm));
  const size = await sizeBreakdown();
  put('wasm_code_bytes', size.code);
  put('wasm_data_bytes', size.data);
  for (const p of size.packages.slice(0, SIZE_TOP_PACKAGES)) put(`wasm_pkg_${p.name.replace(/[^A-Za-z0-9]+/g, '_')}_bytes`, p.bytes);
  const upload = await uploadSizes();
  put('upload_raw_bytes', upload.files.reduce((s, f) => s + f.raw, 0));
  put('upload_gzip_bytes', upload.files.reduce((s, f) => s + f.gzip, 0));
  for (const f of upload.files) {
    // wrangler names the module after its content hash; the figure's name must not change.
    const key = f.name.replace(/^[0-9a-f]{40}-/, '').replace(/[^A-Za-z0-9]+/g, '_');
    put(`upload_${key}_raw_bytes`, f.raw);
    put(`upload_${key}_gzip_bytes`, f.gzip);
  }

  for (const [k, v] of Object.entries(figures)) console.log(`${k} ${v}`);
  console.log('\n' + table(figures));
  console.log('\nwasm code by Go package (bytes, raw):');
  for (const p of size.packages.slice(0, SIZE_TOP_PACKAGES)) console.log(`  ${String(p.bytes).padStart(8)}  ${p.name}`);

  const targets = {};
  for (const [k, t] of Object.entries(TARGETS)) {
    const v = figures[k];
    targets[k] = { value: v, ...t, met: (t.max === undefined || v <= t.max) && (t.min === undefined || v >= t.min) };
  }
  console.log('targets:');
  for (const [k, t] of Object.entries(targets)) {
    console.log(`  ${t.met ? 'met    ' : 'MISSED '} ${k} ${t.value} (${t.max !== undefined ? `<= ${t.max}` : `>= ${t.min}`})`);
  }
  await mkdir(outDir, { recursive: true });
  const out = path.join(outDir, 'results.json');
  await writeFile(out, JSON.stringify({
    when: new Date().toISOString(),
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    figures, targets, upload: upload.files, wasmPackages: size.packages,
    wranglerUpload: { totalKiB: upload.wranglerTotalKiB, gzipKiB: upload.wranglerGzipKiB },
  }, null, 2) + '\n');
  console.log(`\nwrote ${path.relative(root, out)}`);
}

/** Mint figures (suffix names the mode) for ours and the reference, and their ratios. */
function putMints(put, imp, all, suffix) {
  all.push(...(imp.ours.warmup ?? []), ...(imp.js.warmup ?? []));
  for (const c of [1, 8]) {
    const o = merge(imp.ours[c]);
    const j = merge(imp.js[c]);
    all.push(...imp.ours[c], ...imp.js[c]);
    put(`impersonation_c${c}_p50_ms${suffix}`, round(o.p50, 3));
    put(`impersonation_c${c}_p50_ms_js${suffix}`, round(j.p50, 3));
    put(`impersonation_c${c}_p50_ratio${suffix}`, round(o.p50 / j.p50));
    put(`impersonation_c${c}_p99_ms${suffix}`, round(o.p99, 3));
    put(`impersonation_c${c}_rps${suffix}`, round(o.rps, 1));
    put(`impersonation_c${c}_rps_js${suffix}`, round(j.rps, 1));
    put(`impersonation_c${c}_rps_ratio${suffix}`, round(o.rps / j.rps));
    if (o.errors || j.errors) {
      console.error(`bench: mints at c${c}${suffix}: statuses ours ${JSON.stringify(o.statuses)}, reference ${JSON.stringify(j.statuses)}${o.firstError ? `, first error: ${o.firstError}` : ''}`);
    }
  }
}

function table(f) {
  const d = `_d1delay${D1_DELAY_MS}`;
  const rows = [
    ['', 'actas', 'JS reference', 'ratio'],
    ['healthz c1 p50 ms', f.healthz_c1_p50_ms, f.healthz_c1_p50_ms_js, f.healthz_c1_p50_ratio],
    ['healthz c1 p99 ms', f.healthz_c1_p99_ms, f.healthz_c1_p99_ms_js, f.healthz_c1_p99_ratio],
    ['healthz c1 req/s', f.healthz_c1_rps, f.healthz_c1_rps_js, f.healthz_c1_rps_ratio],
    ['healthz c8 p50 ms', f.healthz_c8_p50_ms, f.healthz_c8_p50_ms_js, f.healthz_c8_p50_ratio],
    ['healthz c8 req/s', f.healthz_c8_rps, f.healthz_c8_rps_js, f.healthz_c8_rps_ratio],
    ['mint c1 p50 ms', f.impersonation_c1_p50_ms, f.impersonation_c1_p50_ms_js, f.impersonation_c1_p50_ratio],
    ['mint c8 req/s', f.impersonation_c8_rps, f.impersonation_c8_rps_js, f.impersonation_c8_rps_ratio],
    [`mint c1 p50 ms, D1 +${D1_DELAY_MS} ms`, f[`impersonation_c1_p50_ms${d}`], f[`impersonation_c1_p50_ms_js${d}`], f[`impersonation_c1_p50_ratio${d}`]],
    [`mint c8 req/s, D1 +${D1_DELAY_MS} ms`, f[`impersonation_c8_rps${d}`], f[`impersonation_c8_rps_js${d}`], f[`impersonation_c8_rps_ratio${d}`]],
    ['cold start ms', f.cold_start_ms, f.cold_start_ms_js, f.cold_start_ratio],
    ['non-2xx answers (all phases)', f.non_2xx, '', ''],
    ['D1 round trips / mint', f.d1_round_trips_per_impersonation, '', ''],
    ['upstream requests / mint', `${f.upstream_requests_per_impersonation} (token ${f.token_requests_per_impersonation}, mint ${f.mint_requests_per_impersonation})`, '', ''],
    ['wasm raw / gzip bytes', `${f.wasm_raw_bytes} / ${f.wasm_gzip_bytes}`, '', ''],
    ['upload raw / gzip bytes', `${f.upload_raw_bytes} / ${f.upload_gzip_bytes}`, '', ''],
  ];
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => String(c ?? '').padEnd(w[i])).join('  ').trimEnd()).join('\n');
}

main().catch((err) => {
  console.error(`bench: ${err.stack || err}`);
  process.exit(1);
});
