// ./build.sh bench: actas under wrangler dev against the plain-JavaScript reference
// Worker (bench/reference), on loopback, in one run.
//
// It measures, alternating ours and the reference phase by phase so that drift on the
// machine hits both alike: GET /healthz latency and throughput at concurrency 1 and 8;
// warm POST /v1/impersonations latency and throughput with the emulator's upstream
// request counts; cold start (spawning wrangler dev to the first 200); and the size of
// what `wrangler deploy` would upload. It prints one `name value` line per figure and a
// table, and writes the same to build/bench/results.json.
//
// A missed target is reported, never an error: this exits non-zero only if it cannot run.
// Load comes from bench/load (built by build.sh into build/bench/load), loopback only.

import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

import { root, seedUser, startStack, startWranglerDev } from '../e2e/harness.mjs';

const run = promisify(execFile);
const outDir = path.join(root, 'build', 'bench');
const loadBin = path.join(outDir, 'load');
const referenceConfig = path.join(root, 'bench', 'reference', 'wrangler.toml');

// How much to measure. Each phase is short and repeated, ours and the reference taking
// turns, and samples of the same kind are merged before percentiles are taken.
const ROUNDS = 3; // healthz rounds; each runs c1 and c8 for both Workers
const PHASE = '2s';
const IMPERSONATION_ROUNDS = 2;
const COLD_STARTS = 3; // per Worker, alternating; the median is reported
const WARMUP_PER_CLIENT = 20;

// The issue's targets, reported beside the figures.
const TARGETS = {
  healthz_c1_p50_ratio: { max: 1.3 },
  healthz_c8_rps_ratio: { min: 0.7 },
  upstream_requests_per_impersonation: { max: 1.05 },
  wasm_gzip_bytes: { max: 2_000_000 },
  cold_start_ratio: { max: 2.0 },
};

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

async function main() {
  await stat(loadBin).catch(() => {
    throw new Error(`${loadBin} is missing: run ./build.sh bench`);
  });
  const figures = {};
  const put = (name, value) => (figures[name] = value);

  console.error('bench: starting the emulator, actas and the JavaScript reference under wrangler dev');
  // A rate limit that never bites but is still checked, as in production.
  const stack = await startStack({ vars: { ACTAS_RATE_LIMIT: '100000/1s' } });
  let ref;
  try {
    ref = await startWranglerDev(['-c', referenceConfig], 'reference wrangler dev');
    const cold = { ours: [stack.coldStartMs], js: [ref.coldStartMs] };
    for (let i = 1; i < COLD_STARTS; i++) {
      cold.ours.push(await stack.restartWorker());
      await ref.proc.stop();
      ref = await startWranglerDev(['-c', referenceConfig], 'reference wrangler dev');
      cold.js.push(ref.coldStartMs);
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

    // Warm POST /v1/impersonations (ours only), counting what reached the emulator.
    const body = { userUuid: seedUser('alice').uuid, clientId: 'crm', reason: 'bench: warm impersonation' };
    const imp = { 1: [], 8: [] };
    const upstream = { token: 0, mint: 0, issued: 0 };
    for (let r = 0; r < IMPERSONATION_ROUNDS; r++) {
      for (const c of [1, 8]) {
        // Warm-up outside the counted window, so a first token fetch is not counted.
        await load(`${stack.workerURL}/v1/impersonations`, {
          c, n: 2 * c, method: 'POST', body, expect: 201, authorization: `Bearer ${stack.key}`, warmup: 0,
        });
        const before = await stack.emulatorStats();
        const res = await load(`${stack.workerURL}/v1/impersonations`, {
          c, method: 'POST', body, expect: 201, authorization: `Bearer ${stack.key}`, warmup: 0,
        });
        const after = await stack.emulatorStats();
        imp[c].push(res);
        upstream.token += after.tokenRequests - before.tokenRequests;
        upstream.mint += after.mintRequests - before.mintRequests;
        upstream.issued += res.statuses['201'] ?? 0;
      }
    }

    for (const c of [1, 8]) {
      const o = merge(hz.ours[c]);
      const j = merge(hz.js[c]);
      put(`healthz_c${c}_p50_ms`, round(o.p50, 3));
      put(`healthz_c${c}_p50_ms_js`, round(j.p50, 3));
      put(`healthz_c${c}_p50_ratio`, round(o.p50 / j.p50));
      put(`healthz_c${c}_p99_ms`, round(o.p99, 3));
      put(`healthz_c${c}_p99_ms_js`, round(j.p99, 3));
      put(`healthz_c${c}_p99_ratio`, round(o.p99 / j.p99));
      put(`healthz_c${c}_rps`, round(o.rps, 1));
      put(`healthz_c${c}_rps_js`, round(j.rps, 1));
      put(`healthz_c${c}_rps_ratio`, round(o.rps / j.rps));
      put(`healthz_c${c}_errors`, o.errors);
      put(`healthz_c${c}_errors_js`, j.errors);
    }
    for (const c of [1, 8]) {
      const m = merge(imp[c]);
      put(`impersonation_c${c}_p50_ms`, round(m.p50, 3));
      put(`impersonation_c${c}_p99_ms`, round(m.p99, 3));
      put(`impersonation_c${c}_rps`, round(m.rps, 1));
      put(`impersonation_c${c}_errors`, m.errors);
      if (m.errors) console.error(`bench: impersonations at c${c}: statuses ${JSON.stringify(m.statuses)}${m.firstError ? `, first error: ${m.firstError}` : ''}`);
    }
    const n = Math.max(1, upstream.issued);
    put('impersonations_issued', upstream.issued);
    put('token_requests_per_impersonation', round(upstream.token / n, 3));
    put('mint_requests_per_impersonation', round(upstream.mint / n, 3));
    put('upstream_requests_per_impersonation', round((upstream.token + upstream.mint) / n, 3));

    put('cold_start_ms', median(cold.ours));
    put('cold_start_ms_js', median(cold.js));
    put('cold_start_ratio', round(median(cold.ours) / median(cold.js)));
  } finally {
    await ref?.proc.stop();
    await stack.stop();
  }

  const wasm = await readFile(path.join(root, 'build', 'app.wasm'));
  put('wasm_raw_bytes', wasm.length);
  put('wasm_gzip_bytes', gzipBytes(wasm));
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
    figures, targets, upload: upload.files,
    wranglerUpload: { totalKiB: upload.wranglerTotalKiB, gzipKiB: upload.wranglerGzipKiB },
  }, null, 2) + '\n');
  console.log(`\nwrote ${path.relative(root, out)}`);
}

function table(f) {
  const rows = [
    ['', 'actas', 'JS reference', 'ratio'],
    ['healthz c1 p50 ms', f.healthz_c1_p50_ms, f.healthz_c1_p50_ms_js, f.healthz_c1_p50_ratio],
    ['healthz c1 p99 ms', f.healthz_c1_p99_ms, f.healthz_c1_p99_ms_js, f.healthz_c1_p99_ratio],
    ['healthz c1 req/s', f.healthz_c1_rps, f.healthz_c1_rps_js, f.healthz_c1_rps_ratio],
    ['healthz c8 p50 ms', f.healthz_c8_p50_ms, f.healthz_c8_p50_ms_js, f.healthz_c8_p50_ratio],
    ['healthz c8 p99 ms', f.healthz_c8_p99_ms, f.healthz_c8_p99_ms_js, f.healthz_c8_p99_ratio],
    ['healthz c8 req/s', f.healthz_c8_rps, f.healthz_c8_rps_js, f.healthz_c8_rps_ratio],
    ['cold start ms', f.cold_start_ms, f.cold_start_ms_js, f.cold_start_ratio],
    ['impersonation c1 p50 / p99 ms', `${f.impersonation_c1_p50_ms} / ${f.impersonation_c1_p99_ms}`, '', ''],
    ['impersonation c1 req/s', f.impersonation_c1_rps, '', ''],
    ['impersonation c8 p50 / p99 ms', `${f.impersonation_c8_p50_ms} / ${f.impersonation_c8_p99_ms}`, '', ''],
    ['impersonation c8 req/s', f.impersonation_c8_rps, '', ''],
    ['upstream requests / impersonation', `${f.upstream_requests_per_impersonation} (token ${f.token_requests_per_impersonation}, mint ${f.mint_requests_per_impersonation})`, '', ''],
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
