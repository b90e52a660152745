// The benchmark's yardstick: a plain JavaScript Worker that does, on each path the
// bench measures, the same work as actas, so that ./build.sh bench can say what that
// work costs without Go and WebAssembly. It is never deployed.
//
// GET /healthz: the same answer (body, Content-Type, Cache-Control, a fresh
// X-Request-Id). POST /v1/impersonations: the API key checked by SHA-256, the body
// parsed and validated, the "requested" event appended to the same hash chain
// (migrations/, head kept in the isolate, one D1 batch with the rate-limit count), a
// client-credentials token cached until near expiry, one Bare.ID call, the "issued"
// event appended, and the 201 answer. Every request writes one JSON log line, as
// actas does. With ACTAS_TEST_D1_DELAY_MS it waits that long before each D1 round
// trip, as actas's bridge does in the bench's delayed mode.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const GENESIS = '0'.repeat(64);
const COLUMNS = ['seq', 'impersonation_id', 'event', 'at', 'actor', 'actor_kind', 'target_user', 'client_id',
  'reason', 'request_id', 'client_ip', 'user_agent', 'detail', 'upstream_status', 'expires_at', 'prev_hash', 'hash'];
const INSERT = `INSERT INTO audit_events (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`;
const COUNT = `SELECT COUNT(*), MIN(r.at) FROM audit_events r
  WHERE r.event = 'requested' AND r.actor = ? AND r.actor_kind = ? AND r.at >= ?
  AND NOT EXISTS (SELECT 1 FROM audit_events d WHERE d.impersonation_id = r.impersonation_id
    AND d.event IN ('issued', 'denied', 'failed') AND d.event = 'denied')`;

const hex = (buf) => Array.from(new Uint8Array(buf), (x) => x.toString(16).padStart(2, '0')).join('');
const sha256 = async (s) => hex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s)));

function requestId() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return hex(b);
}

let head; // {seq, hash} of the newest event this isolate knows
let appendQueue = Promise.resolve(); // appends of this isolate, one at a time
let serviceToken; // {value, until}
const VERSION = '0.1.0-g0000000'; // the shape of actas's build version, for the log line

async function d1Delay(env) {
  const ms = Number(env.ACTAS_TEST_D1_DELAY_MS) || 0;
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
}

function append(env, event, extra = []) {
  const run = appendQueue.then(async () => {
    for (let attempt = 0; attempt < 8; attempt++) {
      if (!head) {
        await d1Delay(env);
        const row = await env.AUDIT_DB.prepare('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1').first();
        head = row ? { seq: row.seq, hash: row.hash } : { seq: 0, hash: GENESIS };
      }
      const values = [head.seq + 1, ...event, head.hash];
      const hash = await sha256(JSON.stringify(values));
      try {
        await d1Delay(env);
        const res = await env.AUDIT_DB.batch([env.AUDIT_DB.prepare(INSERT).bind(...values, hash), ...extra]);
        head = { seq: values[0], hash };
        return res.slice(1);
      } catch (err) {
        head = undefined;
        if (!String(err).includes('audit_events.seq')) throw err;
      }
    }
    throw new Error('append: too many conflicts');
  });
  appendQueue = run.catch(() => {});
  return run;
}

async function token(env) {
  if (serviceToken && Date.now() < serviceToken.until) return serviceToken.value;
  const res = await fetch(env.BAREID_TOKEN_URL, {
    method: 'POST',
    headers: {
      authorization: `Basic ${btoa(`${encodeURIComponent(env.BAREID_CLIENT_ID)}:${encodeURIComponent(env.BAREID_CLIENT_SECRET)}`)}`,
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: 'grant_type=client_credentials',
  });
  const body = await res.json();
  serviceToken = { value: body.access_token, until: Date.now() + (body.expires_in - 30) * 1000 };
  return serviceToken.value;
}

const problems = new WeakMap(); // Response -> its problem type's slug, for the log line

function json(status, body, id, extra = {}) {
  const res = new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json', 'cache-control': 'no-store', 'x-request-id': id, ...extra },
  });
  if (body.type) problems.set(res, body.type.slice('urn:actas:problem:'.length));
  return res;
}

async function mint(request, env, id, log) {
  const auth = request.headers.get('authorization') ?? '';
  const digest = await sha256(auth.replace(/^Bearer /, ''));
  const entry = (env.ACTAS_API_KEYS ?? '').split(',').map((e) => e.split(':')).find(([, h]) => h === digest);
  if (!entry) return json(401, { type: 'urn:actas:problem:unauthenticated', status: 401 }, id);
  const actor = entry[0];
  log.actor = actor;
  let req;
  try {
    req = JSON.parse(await request.text());
  } catch {
    return json(400, { type: 'urn:actas:problem:invalid-body', status: 400 }, id);
  }
  if (!UUID.test(req.userUuid ?? '') || !['crm', 'wiki'].includes(req.clientId)) {
    return json(400, { type: 'urn:actas:problem:invalid-body', status: 400 }, id);
  }
  const impId = crypto.randomUUID();
  Object.assign(log, { impersonationId: impId, targetUser: req.userUuid.toLowerCase(), clientId: req.clientId });
  const now = new Date();
  const base = [impId, 'requested', now.toISOString(), actor, 'api-key', req.userUuid.toLowerCase(), req.clientId,
    String(req.reason ?? '').trim(), id, request.headers.get('cf-connecting-ip') ?? '', request.headers.get('user-agent') ?? ''];
  const since = new Date(now.getTime() - 3600_000).toISOString();
  const [count] = await append(env, [...base, '', null, null], [env.AUDIT_DB.prepare(COUNT).bind(actor, 'api-key', since)]);
  if (count.results.length !== 1) throw new Error('count failed');
  const u = new URL(`${env.BAREID_API_URL}/user/v1/${encodeURIComponent(env.BAREID_INSTANCE)}/impersonation-token`);
  u.search = new URLSearchParams({ userUuid: req.userUuid, clientId: req.clientId }).toString();
  const res = await fetch(u, { method: 'POST', headers: { accept: 'application/json', authorization: `Bearer ${await token(env)}` } });
  const body = await res.json();
  const expires = new Date(Date.now() + 60_000).toISOString();
  base[1] = 'issued';
  base[2] = new Date().toISOString();
  await append(env, [...base, '', res.status, expires]);
  log.outcome = 'issued';
  return json(201, { id: impId, token: body.token, url: body.url, method: 'POST', field: 'token', expiresAt: expires }, id,
    { location: `/v1/impersonations/${impId}` });
}

export default {
  async fetch(request, env) {
    const start = Date.now();
    const id = requestId();
    const log = {}; // what the mint adds to the log line
    const { pathname } = new URL(request.url);
    let res;
    try {
      if (request.method === 'GET' && pathname === '/healthz') {
        res = new Response('{"status":"ok"}', {
          headers: { 'content-type': 'application/json', 'cache-control': 'no-store', 'x-request-id': id },
        });
      } else if (request.method === 'POST' && pathname === '/v1/impersonations') {
        res = await mint(request, env, id, log);
      } else {
        res = json(404, { type: 'urn:actas:problem:not-found', status: 404 }, id);
      }
    } catch (err) {
      console.error(String(err));
      log.error = 'audit: append failed';
      res = json(503, { type: 'urn:actas:problem:audit-unavailable', status: 503 }, id);
    }
    // The same line as actas's (worker/server/log.go): its fields, in its order, with
    // its values for these two routes, so that both pay the same for logging.
    console.log(JSON.stringify({
      time: new Date().toISOString(), level: 'info', msg: 'request', version: VERSION, requestId: id,
      method: request.method, route: pathname === '/v1/impersonations' ? 'POST /v1/impersonations' : pathname,
      status: res.status, durationMs: Number((Date.now() - start).toFixed(3)),
      actor: log.actor ?? '', actorKind: log.actor ? 'api-key' : '', impersonationId: log.impersonationId ?? '',
      targetUser: log.targetUser ?? '', clientId: log.clientId ?? '', outcome: log.outcome ?? '',
      problem: problems.get(res) ?? '', error: log.error ?? '', seq: 0, hash: '', detail: '',
    }));
    return res;
  },
};
