// A stand-in for `twofold serve` (docs/push-protocol.md), for the browser test while the real
// service is not there, and as an executable reading of the contract. Plain node:http on
// loopback; state in memory; every request is recorded so a test can look at what the page sent.
//
// It is strict where the contract is: device requests must carry a valid P-256 signature over
// the device-request message within ±120 s; bodies and fields are checked; a second pending
// challenge for the same host and user is refused.
import http from 'node:http';
import { createHash, createHmac, createPublicKey, randomBytes, timingSafeEqual, verify as nodeVerify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web');

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};
const STATIC = new Map([
  ['/', 'index.html'], ['/pair', 'index.html'], ['/index.html', 'index.html'],
  ...['app.js', 'protocol.js', 'sw.js', 'style.css', 'manifest.webmanifest', 'icon.svg',
    'icon-192.png', 'icon-512.png', 'apple-touch-icon.png'].map((f) => [`/${f}`, f]),
]);
const LOCALES_DIR = path.resolve(WEB_DIR, '../src/core/locales');

/** texts.json as `twofold serve` builds it: the [phone] table of every catalogue (a subset of
 * TOML is enough: section headers and `key = "basic string"`, whose escapes JSON reads). */
async function pageTexts() {
  const { readdir } = await import('node:fs/promises');
  const all = {};
  for (const name of (await readdir(LOCALES_DIR)).filter((n) => n.endsWith('.toml')).sort()) {
    const texts = {};
    let section = '';
    for (const line of (await readFile(path.join(LOCALES_DIR, name), 'utf8')).split('\n')) {
      const header = line.match(/^\[([a-z_]+)\]\s*$/);
      if (header) section = header[1];
      const entry = line.match(/^([A-Za-z0-9_]+) = (".*")\s*$/);
      if (entry && section === 'phone') texts[entry[1]] = JSON.parse(entry[2]);
    }
    all[name.slice(0, -'.toml'.length)] = texts;
  }
  return all;
}

/** The headers the contract recommends for the page. */
export const PAGE_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; manifest-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache',
};

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
const sha256 = (s) => createHash('sha256').update(s).digest();

function rawPublicKey(b64) {
  const raw = Buffer.from(b64, 'base64url');
  if (raw.length !== 65 || raw[0] !== 4 || b64u(raw) !== b64) throw new Error('public_key: not a b64u uncompressed P-256 point');
  // Throws if the point is not on the curve.
  return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64u(raw.subarray(1, 33)), y: b64u(raw.subarray(33)) }, format: 'jwk' });
}

function verifyP1363(key, message, signatureB64u) {
  const sig = Buffer.from(String(signatureB64u), 'base64url');
  if (sig.length !== 64) return false;
  return nodeVerify('sha256', Buffer.from(message, 'utf8'), { key, dsaEncoding: 'ieee-p1363' }, sig);
}

class Reply extends Error {
  constructor(status, body) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

const noNewline = (name, v) => {
  if (typeof v !== 'string' || v.includes('\n')) throw new Reply(400, { error: `${name}: bad value` });
  return v;
};

/**
 * Starts the fake service on 127.0.0.1 (a free port). Returns {url, hostToken, hostName,
 * requests, decisions, close()}; a second host token (otherHostToken) exists for same-host checks.
 */
export async function startFakeService({ log = false } = {}) {
  const hostToken = b64u(randomBytes(32));
  const otherHostToken = b64u(randomBytes(32));
  const hosts = new Map([[b64u(sha256(hostToken)), 'build-01.example.org'], [b64u(sha256(otherHostToken)), 'otherhost']]);
  const vapidPublicKey = b64u(Buffer.concat([Buffer.from([4]), randomBytes(64)])); // shape only: never used to sign
  const pairings = new Map(); // id -> {host, user, expires, result, waiters}
  const devices = new Map(); // device_id -> {key, public_key, device_name, subscription}
  const challenges = new Map(); // id -> {host, challenge, device_ids, decision, waiters}
  const requests = []; // {method, url, headers, body}
  const decisions = []; // every accepted POST .../decision body, with the challenge id
  const deviceAuthFailures = [];

  function hostOf(req) {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization || '');
    if (!m) throw new Reply(401, { error: 'host token required' });
    const presented = sha256(m[1]);
    for (const [hash, name] of hosts) {
      if (timingSafeEqual(presented, Buffer.from(hash, 'base64url'))) return name;
    }
    throw new Reply(401, { error: 'unknown host token' });
  }

  function deviceOf(req, method, pathname, deviceIdInPath, body) {
    const id = req.headers['x-twofold-device'];
    const ts = Number(req.headers['x-twofold-time']);
    const counterText = req.headers['x-twofold-counter'] || '';
    const counter = Number(counterText);
    const sig = req.headers['x-twofold-signature'];
    const device = devices.get(id);
    const bodyHash = createHash('sha256').update(body).digest('base64url');
    const message = `twofold-device-request-v2\n${method}\n${pathname}\n${id}\n${ts}\n${counterText}\n${bodyHash}`;
    const why = !device ? 'unknown device'
      : id !== deviceIdInPath ? 'device does not match the path'
        : !/^[0-9]+$/.test(req.headers['x-twofold-time'] || '') || Math.abs(ts - now()) > 120 ? 'timestamp outside ±120 s'
          : !/^[1-9][0-9]*$/.test(counterText) || !Number.isSafeInteger(counter) ? 'no counter'
            : !verifyP1363(device.key, message, sig) ? 'bad signature'
              : counter <= device.counter ? 'replayed counter'
                : null;
    if (why) {
      deviceAuthFailures.push({ method, pathname, why });
      throw new Reply(401, { error: 'device not authenticated' }); // every refusal alike
    }
    device.counter = counter;
    return device;
  }

  function wake(entry) {
    for (const w of entry.waiters.splice(0)) w();
  }

  function waitFor(entry, ready, seconds) {
    return new Promise((resolve) => {
      if (ready()) return resolve(true);
      const timer = setTimeout(() => {
        entry.waiters = entry.waiters.filter((w) => w !== done);
        resolve(ready());
      }, Math.min(60, Math.max(0, seconds)) * 1000);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      entry.waiters.push(done);
    });
  }

  async function handle(req, res, body) {
    const url = new URL(req.url, 'http://x');
    const p = url.pathname;
    const method = req.method;
    const json = () => {
      try {
        return JSON.parse(body.toString('utf8') || 'null');
      } catch {
        throw new Reply(400, { error: 'bad JSON' });
      }
    };
    let m;

    if (method === 'GET' && STATIC.has(p)) {
      const file = STATIC.get(p);
      const data = await readFile(path.join(WEB_DIR, file));
      res.writeHead(200, { 'Content-Type': CONTENT_TYPES[path.extname(file)], ...PAGE_HEADERS });
      res.end(data);
      return;
    }
    if (method === 'GET' && p === '/texts.json') {
      res.writeHead(200, { 'Content-Type': 'application/json', ...PAGE_HEADERS });
      res.end(JSON.stringify(await pageTexts()));
      return;
    }
    if (method === 'GET' && p === '/v1/push-key') return [200, { vapid_public_key: vapidPublicKey }];

    if (method === 'POST' && p === '/v1/pairings') {
      const host = hostOf(req);
      const { user, completion_key: completionKey } = json() || {};
      noNewline('user', user);
      if (typeof completionKey !== 'string' || Buffer.from(completionKey, 'base64url').length !== 32) {
        return [400, { error: 'completion_key: 32 bytes b64u' }];
      }
      const id = b64u(randomBytes(16));
      const expires = now() + 600;
      pairings.set(id, { host, user, expires, result: null, waiters: [], completionKey: Buffer.from(completionKey, 'base64url') });
      return [201, { pairing_id: id, expires }];
    }
    if ((m = /^\/v1\/pairings\/([^/]+)$/.exec(p)) && method === 'GET') {
      const host = hostOf(req);
      const pairing = pairings.get(decodeURIComponent(m[1]));
      if (!pairing || pairing.host !== host || pairing.expires < now()) return [404, { error: 'unknown pairing' }];
      await waitFor(pairing, () => pairing.result, Number(url.searchParams.get('wait') || 0));
      return [200, pairing.result ? { status: 'complete', ...pairing.result } : { status: 'pending' }];
    }
    if ((m = /^\/v1\/pairings\/([^/]+)\/complete$/.exec(p)) && method === 'POST') {
      const pairing = pairings.get(decodeURIComponent(m[1]));
      if (!pairing || pairing.expires < now()) return [404, { error: 'unknown pairing' }];
      if (pairing.result) return [409, { error: 'already completed' }];
      // The MAC keyed from the pairing secret, over the exact body, before anything changes.
      const bodyHash = createHash('sha256').update(body).digest('base64url');
      const expected = createHmac('sha256', pairing.completionKey)
        .update(`twofold-pairing-completion-v1\n${decodeURIComponent(m[1])}\n${bodyHash}`).digest();
      const mac = Buffer.from(String(req.headers['x-twofold-pairing-mac'] || ''), 'base64url');
      if (mac.length !== 32 || !timingSafeEqual(mac, expected)) return [403, { error: 'pairing MAC' }];
      const b = json() || {};
      let key;
      try {
        key = rawPublicKey(b.public_key);
      } catch (e) {
        return [400, { error: e.message }];
      }
      if (typeof b.proof !== 'string' || Buffer.from(b.proof, 'base64url').length !== 32) return [400, { error: 'proof: 32 bytes b64u' }];
      noNewline('device_name', b.device_name);
      const deviceId = 'dev_' + b64u(randomBytes(12));
      devices.set(deviceId, { key, public_key: b.public_key, device_name: b.device_name, subscription: b.push_subscription || null, user: pairing.user, host: pairing.host, counter: 0 });
      pairing.result = { device_id: deviceId, public_key: b.public_key, proof: b.proof, device_name: b.device_name };
      wake(pairing);
      return [201, { device_id: deviceId, host: pairing.host }];
    }
    if (method === 'POST' && p === '/v1/challenges') {
      const host = hostOf(req);
      const c = json() || {};
      for (const k of ['id', 'nonce', 'user', 'host', 'service', 'rhost']) noNewline(k, c[k]);
      if (!Number.isSafeInteger(c.created) || !Number.isSafeInteger(c.expires)) return [400, { error: 'times' }];
      if (c.expires - c.created > 300 || c.expires <= c.created) return [400, { error: 'expiry' }];
      if (!Array.isArray(c.device_ids) || c.device_ids.length === 0) return [400, { error: 'device_ids' }];
      if (challenges.has(c.id)) return [409, { error: 'duplicate id' }];
      for (const e of challenges.values()) {
        if (e.host === host && e.challenge.user === c.user && !e.decision && e.challenge.expires > now()) return [409, { error: 'pending challenge for this user' }];
      }
      const challenge = { id: c.id, nonce: c.nonce, user: c.user, host: c.host, service: c.service, rhost: c.rhost, created: c.created, expires: c.expires };
      challenges.set(c.id, { host, challenge, device_ids: c.device_ids, decision: null, waiters: [] });
      return [201, {}];
    }
    if ((m = /^\/v1\/challenges\/([^/]+)\/decision$/.exec(p)) && method === 'GET') {
      const host = hostOf(req);
      const entry = challenges.get(decodeURIComponent(m[1]));
      if (!entry || entry.host !== host || (entry.challenge.expires < now() && !entry.decision)) return [404, { error: 'unknown challenge' }];
      await waitFor(entry, () => entry.decision, Number(url.searchParams.get('wait') || 0));
      return entry.decision ? [200, entry.decision] : [204, null];
    }
    if ((m = /^\/v1\/challenges\/([^/]+)\/decision$/.exec(p)) && method === 'POST') {
      const id = decodeURIComponent(m[1]);
      const entry = challenges.get(id);
      if (!entry || entry.challenge.expires < now()) return [404, { error: 'unknown challenge' }];
      if (entry.decision) return [409, { error: 'already decided' }];
      const b = json() || {};
      if (!entry.device_ids.includes(b.device_id)) return [404, { error: 'not for this device' }];
      if (!['approve', 'deny', 'report'].includes(b.decision) || typeof b.number !== 'string'
        || !Number.isSafeInteger(b.decided_at) || typeof b.signature !== 'string') return [400, { error: 'bad decision' }];
      entry.decision = { decision: b.decision, number: b.number, device_id: b.device_id, decided_at: b.decided_at, signature: b.signature };
      decisions.push({ id, ...entry.decision });
      wake(entry);
      return [202, {}];
    }
    if ((m = /^\/v1\/challenges\/([^/]+)\/verdict$/.exec(p)) && method === 'POST') {
      const host = hostOf(req);
      const entry = challenges.get(decodeURIComponent(m[1]));
      if (!entry || entry.host !== host || entry.challenge.expires + 30 < now()) return [404, { error: 'unknown challenge' }];
      if (!entry.decision) return [409, { error: 'no decision yet' }];
      const b = json() || {};
      if (!['approved', 'denied', 'reported', 'number_mismatch', 'late', 'invalid'].includes(b.outcome)) return [400, { error: 'outcome' }];
      const verdict = { outcome: b.outcome, alerted: b.alerted === true, paused_until: Number.isSafeInteger(b.paused_until) ? b.paused_until : 0 };
      if (entry.verdict && JSON.stringify(entry.verdict) !== JSON.stringify(verdict)) return [409, { error: 'another verdict' }];
      entry.verdict = verdict;
      return [204, null];
    }
    if ((m = /^\/v1\/devices\/([^/]+)\/challenges\/([^/]+)\/verdict$/.exec(p)) && method === 'GET') {
      const deviceId = decodeURIComponent(m[1]);
      const device = deviceOf(req, method, p, deviceId, body);
      const entry = challenges.get(decodeURIComponent(m[2]));
      if (!entry || !entry.device_ids.includes(deviceId) || entry.host !== device.host || entry.challenge.user !== device.user
        || entry.challenge.expires + 30 < now()) return [404, { error: 'unknown challenge' }];
      return entry.verdict ? [200, entry.verdict] : [204, null];
    }
    if ((m = /^\/v1\/devices\/([^/]+)\/pending$/.exec(p)) && method === 'GET') {
      const deviceId = decodeURIComponent(m[1]);
      deviceOf(req, method, p, deviceId, body);
      const t = now();
      const list = [...challenges.values()]
        .filter((e) => !e.decision && e.challenge.expires > t && e.device_ids.includes(deviceId))
        .map((e) => ({ ...e.challenge, registered_host: e.host }));
      return [200, list];
    }
    if ((m = /^\/v1\/devices\/([^/]+)\/subscription$/.exec(p)) && method === 'PUT') {
      const deviceId = decodeURIComponent(m[1]);
      const device = deviceOf(req, method, p, deviceId, body);
      const b = json() || {};
      if (!b.push_subscription || typeof b.push_subscription.endpoint !== 'string') return [400, { error: 'push_subscription' }];
      device.subscription = b.push_subscription;
      return [204, null];
    }
    if ((m = /^\/v1\/devices\/([^/]+)$/.exec(p)) && method === 'DELETE') {
      hostOf(req);
      devices.delete(decodeURIComponent(m[1]));
      return [204, null];
    }
    return [404, { error: 'not found' }];
  }

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method, url: req.url, headers: { ...req.headers }, body: body.toString('utf8') });
      try {
        const out = await handle(req, res, body);
        if (!out) return; // static file, answered
        const [status, payload] = out;
        if (payload === null || status === 204) {
          res.writeHead(status, { 'Cache-Control': 'no-store' });
          res.end();
        } else {
          res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
          res.end(JSON.stringify(payload));
        }
      } catch (e) {
        const status = e instanceof Reply ? e.status : 500;
        if (!(e instanceof Reply) || log) console.error('fake service:', req.method, req.url, e);
        if (!res.headersSent) res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(e instanceof Reply ? e.body : { error: 'internal' }));
      }
      if (log) console.error(`fake service: ${req.method} ${req.url} -> ${res.statusCode}`);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    hostToken,
    otherHostToken,
    requests,
    decisions,
    devices,
    deviceAuthFailures,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

// `node fake-service.mjs`: run it by hand and print the URL and host token.
if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const s = await startFakeService({ log: true });
  console.log(`fake twofold service on ${s.url}\nhost token: ${s.hostToken}`);
}
