// The benchmark's yardstick: a plain JavaScript Worker that gives the same GET /healthz
// answer as actas (body, Content-Type, Cache-Control, a fresh X-Request-Id) and, like
// actas, writes one JSON log line per request. It exists only so that ./build.sh bench
// can say what the same answer costs without Go and WebAssembly; it is never deployed.

function requestId() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export default {
  fetch(request) {
    const start = Date.now();
    const id = requestId();
    const { pathname } = new URL(request.url);
    let res;
    if (request.method === 'GET' && pathname === '/healthz') {
      res = new Response('{"status":"ok"}', {
        headers: { 'content-type': 'application/json', 'cache-control': 'no-store', 'x-request-id': id },
      });
    } else {
      res = new Response('{"status":404}', { status: 404, headers: { 'content-type': 'application/problem+json' } });
    }
    console.log(JSON.stringify({
      time: new Date().toISOString(), level: 'info', msg: 'request', requestId: id,
      method: request.method, route: pathname, status: res.status, durationMs: Date.now() - start,
    }));
    return res;
  },
};
