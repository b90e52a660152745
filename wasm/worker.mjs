// actas's Worker entry (copied to build/worker.mjs by ./build.sh build, replacing the one
// workers-assets-gen writes).
//
// One Go instance per isolate, serving every request. syumai/workers' generated entry
// starts a new Go runtime for each request (about 15 ms and all in-memory caches lost
// each time); it went per-request because its bridge, reused, failed with "call to
// released function" errors and goroutine deadlocks (its PR #91; issue #200 asks for
// reuse). This entry and the bridge in bridge.go avoid what caused them:
//
// - The instance is created on the first request and kept. If the Go program exits (a
//   panic nobody recovered), every request it still owed gets a 500 and the next
//   request starts a fresh instance.
// - Go registers two callbacks once (serve, complete) and never creates one per request
//   or per awaited promise, so nothing is released that a later request needs and
//   nothing leaks.
// - env is the isolate's (the same for every request) and is read once; ctx is each
//   request's own and travels with it into Go. Go runs all goroutines on whichever
//   request's JavaScript stack happens to call in, so a goroutine of request A may run
//   while request B's event is being handled. workerd ties I/O to the request that
//   started it (and cancels it when that request ends), so Go never starts I/O itself:
//   it hands each operation (fetch, D1, a timer) to its own request's RequestIO, whose
//   pump runs it in that request's context. Waking the pump resolves a promise created
//   in that context, and workerd runs the continuation there
//   (handle_cross_request_promise_resolution, the default at our compatibility date).
// - waitUntil work goes to the ctx of the request that scheduled it.

import "./wasm_exec.js";
import { createRuntimeContext, loadModule } from "./runtime.mjs";

// Bounds on what crosses the bridge; Go bounds API bodies (16 KiB) itself.
const MAX_REQUEST_BODY = 1 << 20; // 1 MiB: larger bodies get a 400 without reaching Go
const MAX_FETCH_BODY = 4 << 20; // an upstream answer larger than this is an error

// How long a request waits for Go's answer before it gets a 500. The timer also keeps
// the request's context visibly busy: a request whose goroutine waits on another
// request's work (a shared token refresh) has no I/O of its own pending, and workerd
// would otherwise cancel it as hung. The Worker's own upstream timeouts are shorter.
const ANSWER_DEADLINE_MS = 30_000;

let current; // Promise<Instance> of the live instance (or the one starting)
let requestSeq = 0; // per isolate, names requests for waitUntil bookkeeping in tests

// D1 round trips this isolate made (each query or batch is one), for the test hooks
// and the benchmark; and, for the benchmark only, an artificial delay before each one
// (ACTAS_TEST_D1_DELAY_MS, honoured only with ACTAS_TEST_HOOKS=true) so that a remote
// database's latency shows on loopback.
const d1Stats = { roundTrips: 0 };
let d1DelayMs = 0;

class Instance {
  constructor(go, binding) {
    this.go = go;
    this.binding = binding; // serve, complete (set by Go)
    this.pending = new Set(); // requests Go still owes an answer
    this.exited = false;
  }

  exit(reason) {
    this.exited = true;
    const err = new Error(`actas: the Go program exited${reason ? `: ${reason}` : ""}`);
    for (const p of this.pending) p.reject(err);
    this.pending.clear();
  }
}

async function startInstance(env) {
  const mod = await loadModule();
  const go = new Go();
  // The runtime context Go reads the env from (context.env, wasm/env.go) and shares
  // the bridge through (context.binding). env is the same for every request of an
  // isolate. There is deliberately no ctx: a ctx here would attach work to whichever
  // request came first (as syumai/workers' cloudflare.WaitUntil would), so such use
  // fails loudly; Go uses each request's own ctx through the bridge instead.
  const binding = {};
  const inst = new Instance(go, binding);
  binding.liveRefs = () => go._values.length - go._idPool.length;
  binding.d1RoundTrips = () => d1Stats.roundTrips;
  d1DelayMs = env.ACTAS_TEST_HOOKS === "true" ? Math.min(Math.max(Number(env.ACTAS_TEST_D1_DELAY_MS) || 0, 0), 1000) : 0;
  let ready;
  const readyPromise = new Promise((resolve) => (ready = resolve));
  const wasm = new WebAssembly.Instance(mod, {
    ...go.importObject,
    workers: { ready: () => ready() },
  });
  // Learn of the program's end synchronously, from wasm_exec's exit hook: a
  // continuation of go.run's promise would run in the context of the request that
  // started the instance, which is likely over (and workerd drops it then).
  const goExit = go.exit;
  go.exit = (code) => {
    goExit.call(go, code);
    inst.exit(`exit code ${code}`);
  };
  const run = go.run(wasm, createRuntimeContext({ env, ctx: undefined, binding }));
  run.catch((err) => inst.exit(String(err)));
  await Promise.race([readyPromise, run]);
  if (inst.exited) throw new Error("actas: the Go program exited while starting");
  return inst;
}

async function instance(env) {
  const seen = current;
  if (seen) {
    const inst = await seen.catch(() => undefined);
    if (inst && !inst.exited) return inst;
    if (current !== seen) return instance(env); // another request already replaced it
  }
  const starting = startInstance(env);
  current = starting;
  starting.catch(() => {
    if (current === starting) current = undefined;
  });
  return starting;
}

// RequestIO runs the I/O Go asks for on behalf of one request, in that request's context.
class RequestIO {
  constructor(ctx, complete) {
    this.id = ++requestSeq;
    this.ctx = ctx;
    this.complete = complete; // Go's completion callback: (opId, error, ...results)
    this.queue = [];
    this.wake = undefined;
    this.answered = false; // Go has answered the request
    this.tasks = new Map(); // waitUntil work Go still runs: id -> resolve
    this.pump();
  }

  get open() {
    return !this.answered || this.tasks.size > 0;
  }

  // Called from Go (on any request's stack): queue op and wake the pump.
  submit(op) {
    if (!this.open) return false;
    this.queue.push(op);
    this.kick();
    return true;
  }

  kick() {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async pump() {
    while (this.open) {
      while (this.queue.length) this.queue.shift()();
      if (!this.open) break;
      await new Promise((resolve) => (this.wake = resolve));
    }
  }

  settle(opId, promise) {
    promise.then(
      (results) => this.complete(opId, null, ...results),
      (err) => this.complete(opId, String(err?.message ?? err)),
    );
  }

  fetch(opId, method, url, headers, body, timeoutMs) {
    return this.submit(() => this.settle(opId, fetchAll(method, url, headers, body, timeoutMs)));
  }

  // mode "raw": [columns, rows]; mode "run": [changes, lastRowId]
  d1(opId, binding, sql, args, mode) {
    return this.submit(() => this.settle(opId, d1(binding, sql, args, mode)));
  }

  // stmts: [[sql, args], ...], run by D1 in one round trip and transaction; resolves
  // with one array of rows (arrays of values) per statement.
  d1batch(opId, binding, stmts) {
    return this.submit(() => this.settle(opId, d1Batch(binding, stmts)));
  }

  sleep(opId, ms) {
    return this.submit(() => this.settle(opId, new Promise((r) => setTimeout(() => r([]), ms))));
  }

  // waitUntil work that Go runs; Go calls taskDone(taskId) when it is finished.
  waitUntil(taskId) {
    if (!this.open) return false;
    this.ctx.waitUntil(new Promise((resolve) => this.tasks.set(taskId, resolve)));
    return true;
  }

  taskDone(taskId) {
    this.tasks.get(taskId)?.();
    this.tasks.delete(taskId);
    this.kick(); // lets the pump end if this was the last thing keeping it
  }

  answer() {
    this.answered = true;
    this.kick();
  }
}

async function fetchAll(method, url, headers, body, timeoutMs) {
  const init = { method, headers: splitHeaders(headers), redirect: "manual" };
  if (body !== null) init.body = body;
  if (timeoutMs > 0) init.signal = AbortSignal.timeout(timeoutMs);
  const res = await fetch(url, init);
  const declared = Number(res.headers.get("content-length"));
  if (declared > MAX_FETCH_BODY) {
    await res.body?.cancel();
    throw new Error(`upstream body of ${declared} bytes exceeds ${MAX_FETCH_BODY}`);
  }
  const buf = res.body === null ? null : new Uint8Array(await res.arrayBuffer());
  if (buf !== null && buf.length > MAX_FETCH_BODY) {
    throw new Error(`upstream body exceeds ${MAX_FETCH_BODY} bytes`);
  }
  return [res.status, joinHeaders(res.headers), buf];
}

async function d1RoundTrip() {
  d1Stats.roundTrips++;
  if (d1DelayMs > 0) await new Promise((r) => setTimeout(r, d1DelayMs));
}

async function d1(binding, sql, args, mode) {
  await d1RoundTrip();
  const stmt = binding.prepare(sql).bind(...args);
  if (mode === "raw") {
    const rows = await stmt.raw({ columnNames: true });
    const columns = rows.length ? rows.shift() : [];
    return [columns, rows];
  }
  const res = await stmt.run();
  return [res.meta?.changes ?? 0, res.meta?.last_row_id ?? 0];
}

async function d1Batch(binding, stmts) {
  await d1RoundTrip();
  const results = await binding.batch(stmts.map(([sql, args]) => binding.prepare(sql).bind(...args)));
  // batch has no raw mode: rows come as objects, whose values are in column order
  // (the statements Go batches never repeat a column name).
  return [results.map((r) => (r.results ?? []).map((row) => Object.values(row)))];
}

// Headers cross the bridge as one string: name, value, name, value, separated by "\n"
// (which a header value cannot contain).
function joinHeaders(headers) {
  const parts = [];
  for (const [k, v] of headers) parts.push(k, v);
  return parts.join("\n");
}

function splitHeaders(s) {
  const h = new Headers();
  if (s === "") return h;
  const parts = s.split("\n");
  for (let i = 0; i + 1 < parts.length; i += 2) h.append(parts[i], parts[i + 1]);
  return h;
}

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

// The answers the entry gives itself, shaped as the Worker's RFC 9457 problems
// (worker/problem): the Go program is gone, or the body is too large to hand over.
const INTERNAL = ["internal", 500, "Internal error", "The request could not be completed."];
const TOO_LARGE = ["invalid-body", 400, "Request body is invalid", "The request body is too large."];

function problem([kind, status, title, detail]) {
  const id = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  const body = { type: `urn:actas:problem:${kind}`, title, status, detail, requestId: id };
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      "content-type": "application/problem+json",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "x-request-id": id,
    },
  });
}

async function readBody(request) {
  if (request.body === null) return null;
  if (Number(request.headers.get("content-length")) > MAX_REQUEST_BODY) return undefined;
  const buf = new Uint8Array(await request.arrayBuffer());
  return buf.length > MAX_REQUEST_BODY ? undefined : buf;
}

async function handle(request, env, ctx) {
  let inst;
  try {
    inst = await instance(env);
  } catch (err) {
    console.error(String(err));
    return problem(INTERNAL);
  }
  const body = await readBody(request);
  if (body === undefined) return problem(TOO_LARGE);

  const io = new RequestIO(ctx, inst.binding.complete);
  try {
    const [status, headers, out] = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        inst.pending.delete(call);
        reject(new Error(`actas: no answer from Go within ${ANSWER_DEADLINE_MS} ms`));
      }, ANSWER_DEADLINE_MS);
      const call = {
        reject(err) {
          clearTimeout(timer);
          reject(err);
        },
      };
      inst.pending.add(call);
      const done = (...answer) => {
        clearTimeout(timer);
        inst.pending.delete(call);
        resolve(answer);
      };
      try {
        inst.binding.serve(request.method, request.url, joinHeaders(request.headers), body, io, done);
      } catch (err) {
        if (inst.go.exited) inst.exit(String(err));
        inst.pending.delete(call);
        call.reject(err);
      }
    });
    return new Response(NULL_BODY_STATUS.has(status) ? null : out, { status, headers: splitHeaders(headers) });
  } catch (err) {
    console.error(String(err));
    return problem(INTERNAL);
  } finally {
    io.answer();
  }
}

// A Cron Trigger's run (wrangler.toml [triggers]): Go's binding.scheduled does the
// work (webhook delivery; on the anchor cron, verifying and publishing the chain
// head) with this event's own RequestIO, and calls done when it is finished.
async function scheduled(controller, env, ctx) {
  const inst = await instance(env);
  if (typeof inst.binding.scheduled !== "function") return;
  const io = new RequestIO(ctx, inst.binding.complete);
  try {
    await new Promise((resolve, reject) => {
      const call = { reject };
      inst.pending.add(call);
      const timer = setTimeout(() => {
        inst.pending.delete(call);
        reject(new Error(`actas: scheduled run unfinished after ${SCHEDULED_DEADLINE_MS} ms`));
      }, SCHEDULED_DEADLINE_MS);
      inst.binding.scheduled(controller.cron, io, () => {
        clearTimeout(timer);
        inst.pending.delete(call);
        resolve();
      });
    });
  } finally {
    io.answer();
  }
}

// How long a scheduled run may take; its own webhook attempts time out after 10 s each.
const SCHEDULED_DEADLINE_MS = 120_000;

export default { fetch: handle, scheduled };
