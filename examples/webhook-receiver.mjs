// A minimal receiver of actas's audit webhook: verifies each message's signature
// (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature), refuses stale
// or replayed messages, processes each webhook-id once, and answers 2xx only after the
// message is stored (actas retries anything else, in order, until it gets a 2xx).
//
//   ACTAS_WEBHOOK_SECRET=whsec_... node examples/webhook-receiver.mjs [port]
//
// It appends each new message as one line to stdout; replace store() with your SIEM.
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';

const TOLERANCE_SECONDS = 5 * 60; // refuse messages signed longer ago (replays)
const MAX_BODY = 1 << 20;

const secretText = process.env.ACTAS_WEBHOOK_SECRET ?? '';
if (!secretText.startsWith('whsec_')) {
  console.error('set ACTAS_WEBHOOK_SECRET to the whsec_... secret the Worker has');
  process.exit(2);
}
const secret = Buffer.from(secretText.slice('whsec_'.length), 'base64');

/** Returns true if the message was signed with secret (any of the listed signatures). */
export function verify(secretBytes, headers, body, now = Date.now() / 1000) {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sigs = headers['webhook-signature'];
  if (!id || !ts || !sigs || !/^\d+$/.test(ts)) return false;
  if (Math.abs(now - Number(ts)) > TOLERANCE_SECONDS) return false;
  const expected = createHmac('sha256', secretBytes).update(`${id}.${ts}.`).update(body).digest();
  return sigs.split(' ').some((s) => {
    const [version, b64] = s.split(',', 2);
    if (version !== 'v1' || !b64) return false;
    const got = Buffer.from(b64, 'base64');
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}

const seen = new Set(); // webhook-ids already stored; keep this durable in a real receiver

function store(message) {
  process.stdout.write(JSON.stringify(message) + '\n');
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) req.destroy();
    else chunks.push(c);
  });
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (req.method !== 'POST' || !verify(secret, req.headers, body)) {
      res.writeHead(401).end();
      return;
    }
    const id = req.headers['webhook-id'];
    if (!seen.has(id)) {
      // data: an audit event (type audit.event), a verified chain head (audit.anchor),
      // or a checkpoint that removed an archived prefix (audit.checkpoint).
      store(JSON.parse(body.toString('utf8')));
      seen.add(id);
    }
    res.writeHead(204).end();
  });
});

const port = Number(process.argv[2] ?? 8799);
server.listen(port, '127.0.0.1', () => console.error(`listening on http://127.0.0.1:${port}/`));
