// twofold push approval protocol, version 1 (device requests v2) — the device's side
// (docs/push-protocol.md).
//
// Pure functions over strings and bytes plus WebCrypto calls, no DOM: the page (app.js)
// imports this module, and node's test runner imports the very same file
// (tests/web/protocol.test.mjs), so the canonical messages are checked outside the browser.
//
// All binary values are unpadded base64url ("b64u"); times are Unix seconds; every message is
// lines joined with "\n", first line type and version, no trailing newline.

export const PAIRING_V1 = 'twofold-pairing-v1';
export const CHALLENGE_V1 = 'twofold-challenge-v1';
export const DECISION_V1 = 'twofold-decision-v1';
export const DEVICE_REQUEST_V2 = 'twofold-device-request-v2';
export const PAIRING_COMPLETION_KEY_V1 = 'twofold-pairing-completion-key-v1';
export const PAIRING_COMPLETION_V1 = 'twofold-pairing-completion-v1';

export const DECISIONS = Object.freeze(['approve', 'deny', 'report']);

const ECDSA_P256 = Object.freeze({ name: 'ECDSA', namedCurve: 'P-256' });
const ECDSA_SHA256 = Object.freeze({ name: 'ECDSA', hash: 'SHA-256' });

function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s) throw new Error('WebCrypto is not available (the page needs HTTPS)');
  return s;
}

// ---------------------------------------------------------------- base64url, UTF-8

const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64U_INDEX = new Map([...B64U].map((c, i) => [c, i]));

/** Bytes (Uint8Array, ArrayBuffer or a view) to unpadded base64url. */
export function b64uEncode(data) {
  const bytes = toBytes(data);
  let out = '';
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64U[n >> 18] + B64U[(n >> 12) & 63] + B64U[(n >> 6) & 63] + B64U[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += B64U[n >> 18] + B64U[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += B64U[n >> 18] + B64U[(n >> 12) & 63] + B64U[(n >> 6) & 63];
  }
  return out;
}

/**
 * Unpadded base64url to bytes. Strict: no padding, no whitespace, no '+' or '/', no impossible
 * length, and the unused low bits of the last character must be zero (one encoding per value).
 */
export function b64uDecode(text) {
  if (typeof text !== 'string') throw new TypeError('base64url: not a string');
  if (text.length % 4 === 1) throw new Error('base64url: impossible length');
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (const c of text) {
    const v = B64U_INDEX.get(c);
    if (v === undefined) throw new Error('base64url: invalid character');
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
    acc &= (1 << bits) - 1;
  }
  if (acc !== 0) throw new Error('base64url: non-canonical trailing bits');
  return out;
}

function toBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('expected bytes');
}

/** UTF-8 bytes of a string. */
export function utf8(text) {
  return new TextEncoder().encode(text);
}

// ---------------------------------------------------------------- canonical messages

/** A message field: a string without "\n" (the host and the service refuse such values). */
function field(name, value) {
  if (typeof value !== 'string') throw new TypeError(`${name}: not a string`);
  if (value.includes('\n')) throw new Error(`${name}: contains a newline`);
  return value;
}

/** A time field: a non-negative integer number of Unix seconds, written in decimal. */
function time(name, value) {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name}: not a Unix time`);
  return String(value);
}

/** "twofold-pairing-v1\n{pairing_id}\n{public_key_b64u}" */
export function pairingMessage(pairingId, publicKeyB64u) {
  return [PAIRING_V1, field('pairing_id', pairingId), field('public_key', publicKeyB64u)].join('\n');
}

/**
 * A challenge as the service hands it to the device, checked and reduced to the fields that
 * are hashed. Throws on anything malformed: the page then does not show it.
 */
export function checkChallenge(c) {
  if (c === null || typeof c !== 'object') throw new TypeError('challenge: not an object');
  const out = {
    id: field('id', c.id),
    nonce: field('nonce', c.nonce),
    user: field('user', c.user),
    host: field('host', c.host),
    service: field('service', c.service),
    rhost: field('rhost', c.rhost),
    created: Number(time('created', c.created)),
    expires: Number(time('expires', c.expires)),
  };
  if (out.id === '' || out.nonce === '') throw new Error('challenge: empty id or nonce');
  if (out.expires <= out.created) throw new Error('challenge: expires before it was created');
  return out;
}

/** "twofold-challenge-v1\n{id}\n{nonce}\n{user}\n{host}\n{service}\n{rhost}\n{created}\n{expires}" */
export function challengeMessage(challenge) {
  const c = checkChallenge(challenge);
  return [CHALLENGE_V1, c.id, c.nonce, c.user, c.host, c.service, c.rhost,
    String(c.created), String(c.expires)].join('\n');
}

/** Checks decision and number together: approve carries two digits, deny and report nothing. */
export function checkDecision(decision, number) {
  if (!DECISIONS.includes(decision)) throw new Error('decision: not approve, deny or report');
  if (typeof number !== 'string') throw new TypeError('number: not a string');
  if (decision === 'approve' && !/^[0-9]{2}$/.test(number)) {
    throw new Error('number: approve needs the 2-digit number');
  }
  if (decision !== 'approve' && number !== '') throw new Error('number: only approve carries one');
}

/** "twofold-decision-v1\n{challenge_hash_b64u}\n{decision}\n{number}\n{device_id}\n{decided_at}" */
export function decisionMessage({ challengeHash, decision, number, deviceId, decidedAt }) {
  checkDecision(decision, number);
  return [DECISION_V1, field('challenge_hash', challengeHash), decision, number,
    field('device_id', deviceId), time('decided_at', decidedAt)].join('\n');
}

/**
 * "twofold-device-request-v2\n{method}\n{path}\n{device_id}\n{timestamp}\n{counter}\n{body_sha256_b64u}"
 * path: the request path from "/v1/" on, as sent (percent-encoded), without query string;
 * counter: above every counter this device sent before (the service refuses replays);
 * bodyHash: b64u SHA-256 of the exact body bytes (of nothing for a request without a body).
 */
export function deviceRequestMessage(method, path, deviceId, timestamp, counter, bodyHash) {
  if (!/^[A-Z]+$/.test(method)) throw new Error('method: not an upper-case HTTP method');
  if (!field('path', path).startsWith('/v1/') || /[?#]/.test(path)) {
    throw new Error('path: must start with /v1/ and carry no query or fragment');
  }
  if (!Number.isSafeInteger(counter) || counter < 1) throw new Error('counter: not a positive integer');
  if (!/^[A-Za-z0-9_-]{43}$/.test(bodyHash)) throw new Error('body hash: not a b64u SHA-256');
  return [DEVICE_REQUEST_V2, method, path, field('device_id', deviceId), time('timestamp', timestamp),
    String(counter), bodyHash].join('\n');
}

// ---------------------------------------------------------------- WebCrypto

/** SHA-256 of the challenge message, b64u (43 characters). */
export async function challengeHash(challenge) {
  const digest = await subtle().digest('SHA-256', utf8(challengeMessage(challenge)));
  return b64uEncode(digest);
}

/** SHA-256 of a body (a string, as UTF-8, or bytes), b64u. */
export async function bodyHash(body) {
  const bytes = typeof body === 'string' ? utf8(body) : toBytes(body);
  return b64uEncode(await subtle().digest('SHA-256', bytes));
}

async function hmac(keyBytes, message) {
  const key = await subtle().importKey('raw', keyBytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await subtle().sign('HMAC', key, utf8(message)));
}

/**
 * The X-Twofold-Pairing-Mac of a completion body: HMAC-SHA256(completion key,
 * "twofold-pairing-completion-v1\n{pairing_id}\n{body_sha256_b64u}"), where the completion key
 * is HMAC-SHA256(pairing secret, "twofold-pairing-completion-key-v1") — the key the host gave
 * the service, so the service can tell the phone that scanned the code from anyone else.
 */
export async function pairingCompletionMac(secret, pairingId, body) {
  const secretBytes = typeof secret === 'string' ? b64uDecode(secret) : toBytes(secret);
  const key = await hmac(secretBytes, PAIRING_COMPLETION_KEY_V1);
  const message = [PAIRING_COMPLETION_V1, field('pairing_id', pairingId), await bodyHash(body)].join('\n');
  return b64uEncode(await hmac(key, message));
}

/** HMAC-SHA256(pairing secret, pairing message), b64u. secret: bytes or its b64u. */
export async function pairingProof(secret, pairingId, publicKeyB64u) {
  const keyBytes = typeof secret === 'string' ? b64uDecode(secret) : toBytes(secret);
  const key = await subtle().importKey('raw', keyBytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = await subtle().sign('HMAC', key, utf8(pairingMessage(pairingId, publicKeyB64u)));
  return b64uEncode(mac);
}

/** A new device key pair: ECDSA P-256, private half not extractable. */
export function generateDeviceKey() {
  return subtle().generateKey(ECDSA_P256, false, ['sign', 'verify']);
}

/** The public key as the uncompressed SEC1 point (65 bytes, 0x04‖x‖y), b64u. */
export async function exportPublicKey(publicKey) {
  const raw = new Uint8Array(await subtle().exportKey('raw', publicKey));
  if (raw.length !== 65 || raw[0] !== 4) throw new Error('public key: not an uncompressed P-256 point');
  return b64uEncode(raw);
}

/** ECDSA P-256 / SHA-256 signature of a message string, IEEE P1363 (r‖s, 64 bytes), b64u. */
export async function sign(privateKey, message) {
  const sig = new Uint8Array(await subtle().sign(ECDSA_SHA256, privateKey, utf8(message)));
  if (sig.length !== 64) throw new Error('signature: not 64 bytes (r‖s)');
  return b64uEncode(sig);
}

/** Verifies a b64u P1363 signature against a raw public key (b64u). For tests and self-checks. */
export async function verify(publicKeyB64u, message, signatureB64u) {
  const key = await subtle().importKey('raw', b64uDecode(publicKeyB64u), ECDSA_P256, false, ['verify']);
  return subtle().verify(ECDSA_SHA256, key, b64uDecode(signatureB64u), utf8(message));
}

/** The four device-authentication headers for one request; body: the exact text sent ('' for none). */
export async function deviceHeaders(privateKey, method, path, deviceId, timestamp, counter, body = '') {
  const message = deviceRequestMessage(method, path, deviceId, timestamp, counter, await bodyHash(body));
  return {
    'X-Twofold-Device': deviceId,
    'X-Twofold-Time': String(timestamp),
    'X-Twofold-Counter': String(counter),
    'X-Twofold-Signature': await sign(privateKey, message),
  };
}

/**
 * The body of POST /v1/challenges/{id}/decision: the page hashes the challenge from the fields
 * it was given, so the signature binds exactly the context the user saw.
 */
export async function decisionBody(privateKey, challenge, decision, number, deviceId, decidedAt) {
  const hash = await challengeHash(challenge);
  const message = decisionMessage({ challengeHash: hash, decision, number, deviceId, decidedAt });
  return {
    device_id: deviceId,
    decision,
    number,
    decided_at: decidedAt,
    signature: await sign(privateKey, message),
  };
}

// ---------------------------------------------------------------- pairing URL

/**
 * The pairing fragment "#p=<pairing_id>&k=<secret b64u>&u=<user>&h=<host>" (values
 * percent-encoded as URLSearchParams writes them). Returns null when it is not one.
 */
export function parsePairingFragment(hash) {
  if (typeof hash !== 'string') return null;
  const params = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
  const p = params.get('p');
  const k = params.get('k');
  const u = params.get('u');
  const h = params.get('h');
  if (!p || !k || u === null || h === null) return null;
  let secret;
  try {
    secret = b64uDecode(k);
  } catch {
    return null;
  }
  if (secret.length < 16) return null;
  for (const v of [p, u, h]) if (v.includes('\n')) return null;
  return { pairingId: p, secret, user: u, host: h };
}
