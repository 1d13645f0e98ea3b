// The host's side of the push protocol, for the browser test: what the PAM module and
// `twofold enroll` do over HTTP (docs/push-protocol.md), and the host's checks before it says
// "approved" — written independently of web/protocol.js, on node's crypto.
import { createHash, createHmac, createPublicKey, randomBytes, randomInt, timingSafeEqual, verify as nodeVerify } from 'node:crypto';

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

export class Host {
  /** service: base URL; token: this host's bearer token; name: the host name challenges carry. */
  constructor(service, token, name = 'build-01.example.org') {
    this.service = service.replace(/\/$/, '');
    this.token = token;
    this.name = name;
  }

  async call(method, path, body) {
    const res = await fetch(this.service + path, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  /** Enrollment's first half: a pairing and the QR's URL (the secret only in the fragment). */
  async createPairing(user) {
    const secret = randomBytes(32);
    // The service checks the phone's completion with this key derived from the secret.
    const completionKey = createHmac('sha256', secret).update('twofold-pairing-completion-key-v1').digest();
    const r = await this.call('POST', '/v1/pairings', { user, completion_key: b64u(completionKey) });
    if (r.status !== 201) throw new Error(`POST /v1/pairings: ${r.status} ${JSON.stringify(r.body)}`);
    const fragment = new URLSearchParams({ p: r.body.pairing_id, k: b64u(secret), u: user, h: this.name });
    return { id: r.body.pairing_id, secret, secretB64u: b64u(secret), user, url: `${this.service}/pair#${fragment}` };
  }

  /** Enrollment's second half: waits for the phone, then checks the proof like the host must. */
  async waitPairing(pairing, { timeoutMs = 90000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const r = await this.call('GET', `/v1/pairings/${encodeURIComponent(pairing.id)}?wait=20`);
      if (r.status !== 200) throw new Error(`GET pairing: ${r.status}`);
      if (r.body.status === 'complete') {
        const expected = createHmac('sha256', pairing.secret)
          .update(`twofold-pairing-v1\n${pairing.id}\n${r.body.public_key}`).digest();
        const proof = Buffer.from(r.body.proof, 'base64url');
        if (proof.length !== 32 || !timingSafeEqual(proof, expected)) throw new Error('pairing proof does not verify');
        const raw = Buffer.from(r.body.public_key, 'base64url');
        if (raw.length !== 65 || raw[0] !== 4) throw new Error('public key is not an uncompressed P-256 point');
        return { deviceId: r.body.device_id, publicKey: r.body.public_key, deviceName: r.body.device_name };
      }
    }
    throw new Error('pairing not completed in time');
  }

  /** A sign-in: the challenge (posted without the number) and the number kept here. */
  async challenge(user, deviceIds, { service = 'sshd', rhost = '192.0.2.10', ttl = 120 } = {}) {
    const created = now();
    const challenge = {
      id: b64u(randomBytes(16)), nonce: b64u(randomBytes(32)), user, host: this.name, service, rhost,
      created, expires: created + ttl,
    };
    const r = await this.call('POST', '/v1/challenges', { ...challenge, device_ids: deviceIds });
    if (r.status !== 201) throw new Error(`POST /v1/challenges: ${r.status} ${JSON.stringify(r.body)}`);
    return { challenge, number: String(randomInt(10, 100)) };
  }

  /** Posts the verdict for the phone (what the module does after verifying): display-only. */
  async postVerdict(id, verdict) {
    const r = await this.call('POST', `/v1/challenges/${encodeURIComponent(id)}/verdict`, verdict);
    if (r.status !== 204) throw new Error(`POST verdict: ${r.status} ${JSON.stringify(r.body)}`);
  }

  /** The host's checks, then the verdict for the phone, as the module does; returns the checks' result. */
  async settle(challenge, number, decision, deviceKeys, { alerted = false, pausedUntil = 0 } = {}) {
    const checked = hostVerdict(challenge, number, decision, deviceKeys);
    await this.postVerdict(challenge.id, { outcome: outcomeOf(checked), alerted, paused_until: pausedUntil });
    return checked;
  }

  /** Long-polls for the decision (event-driven on the service's side). */
  async waitDecision(id, { timeoutMs = 90000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const r = await this.call('GET', `/v1/challenges/${encodeURIComponent(id)}/decision?wait=20`);
      if (r.status === 200) return r.body;
      if (r.status !== 204) throw new Error(`GET decision: ${r.status}`);
    }
    throw new Error('no decision in time');
  }
}

/** The verdict's outcome for a result of hostVerdict (as the module maps its own). */
export function outcomeOf(checked) {
  if (checked.ok) return 'approved';
  return { deny: 'denied', report: 'reported', 'wrong number': 'number_mismatch', expired: 'late',
    'decided_at outside the challenge': 'late' }[checked.reason] || 'invalid';
}

/** The challenge hash, computed from the host's own copy of the challenge. */
export function challengeHash(c) {
  const msg = ['twofold-challenge-v1', c.id, c.nonce, c.user, c.host, c.service, c.rhost, c.created, c.expires].join('\n');
  return createHash('sha256').update(msg, 'utf8').digest('base64url');
}

/**
 * The host's checks (docs/push-protocol.md, "What the host checks"): returns
 * {ok, signatureValid, reason}. `number` is what the host showed; `deviceKeys` maps the user's
 * record's device ids to raw public keys (b64u).
 */
export function hostVerdict(challenge, number, decision, deviceKeys, at = now()) {
  const key = deviceKeys[decision.device_id];
  if (!key) return { ok: false, signatureValid: false, reason: 'unknown device' };
  const raw = Buffer.from(key, 'base64url');
  const pub = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64u(raw.subarray(1, 33)), y: b64u(raw.subarray(33)) }, format: 'jwk' });
  const message = ['twofold-decision-v1', challengeHash(challenge), decision.decision, decision.number,
    decision.device_id, decision.decided_at].join('\n');
  const sig = Buffer.from(decision.signature, 'base64url');
  const signatureValid = sig.length === 64
    && nodeVerify('sha256', Buffer.from(message, 'utf8'), { key: pub, dsaEncoding: 'ieee-p1363' }, sig);
  if (!signatureValid) return { ok: false, signatureValid, reason: 'bad signature' };
  if (!(challenge.created <= decision.decided_at && decision.decided_at <= challenge.expires)) return { ok: false, signatureValid, reason: 'decided_at outside the challenge' };
  if (at >= challenge.expires) return { ok: false, signatureValid, reason: 'expired' };
  if (decision.decision !== 'approve') return { ok: false, signatureValid, reason: decision.decision };
  if (decision.number !== number) return { ok: false, signatureValid, reason: 'wrong number' };
  return { ok: true, signatureValid, reason: 'approved' };
}
