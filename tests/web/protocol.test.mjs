// Unit tests of web/protocol.js (the page's own module) on node's WebCrypto, and of the
// committed interop vectors (vectors.json) with node's OpenSSL-backed crypto as the verifier.
//   node --test tests/web/protocol.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, createPublicKey, createVerify, randomBytes, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as proto from '../../web/protocol.js';

const vectors = JSON.parse(readFileSync(new URL('./vectors.json', import.meta.url), 'utf8'));

/** node:crypto public key from the raw 65-byte point (b64u). */
function nodePublicKey(rawB64u) {
  const raw = Buffer.from(rawB64u, 'base64url');
  return createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33).toString('base64url') },
    format: 'jwk',
  });
}

/** Verifies a P1363 (r‖s) signature with node's crypto, independently of protocol.js. */
function nodeVerifies(rawPublicKeyB64u, message, signatureB64u) {
  return nodeVerify('sha256', Buffer.from(message, 'utf8'),
    { key: nodePublicKey(rawPublicKeyB64u), dsaEncoding: 'ieee-p1363' },
    Buffer.from(signatureB64u, 'base64url'));
}

test('b64u round-trips every length and matches node\'s base64url', () => {
  for (let n = 0; n < 70; n++) {
    const bytes = randomBytes(n);
    const enc = proto.b64uEncode(bytes);
    assert.equal(enc, bytes.toString('base64url'));
    assert.ok(!enc.includes('='));
    assert.deepEqual(Buffer.from(proto.b64uDecode(enc)), bytes);
  }
  assert.equal(proto.b64uEncode(new Uint8Array([0xfb, 0xff])), '-_8');
});

test('b64u decoding is strict', () => {
  for (const bad of ['AA==', 'A', 'AB+/', 'AB/C', 'AB C', 'ABC\n', 'AB.', 'AB=']) {
    assert.throws(() => proto.b64uDecode(bad), undefined, JSON.stringify(bad));
  }
  // "AB" decodes to one byte only if the low 4 bits of 'B' are zero: they are not.
  assert.throws(() => proto.b64uDecode('AB'));
  assert.deepEqual([...proto.b64uDecode('AA')], [0]);
  assert.deepEqual([...proto.b64uDecode('')], []);
});

test('canonical messages are the documented lines', () => {
  assert.equal(proto.pairingMessage('p1', 'KEY'), 'twofold-pairing-v1\np1\nKEY');
  const c = { id: 'i', nonce: 'n', user: 'u', host: 'h', service: 's', rhost: '', created: 10, expires: 130 };
  assert.equal(proto.challengeMessage(c), 'twofold-challenge-v1\ni\nn\nu\nh\ns\n\n10\n130');
  assert.equal(
    proto.decisionMessage({ challengeHash: 'H', decision: 'approve', number: '42', deviceId: 'd', decidedAt: 11 }),
    'twofold-decision-v1\nH\napprove\n42\nd\n11');
  assert.equal(
    proto.decisionMessage({ challengeHash: 'H', decision: 'report', number: '', deviceId: 'd', decidedAt: 11 }),
    'twofold-decision-v1\nH\nreport\n\nd\n11');
  const empty = '47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU';
  assert.equal(proto.deviceRequestMessage('GET', '/v1/devices/d/pending', 'd', 99, 7, empty),
    `twofold-device-request-v2\nGET\n/v1/devices/d/pending\nd\n99\n7\n${empty}`);
});

test('malformed fields are refused, not signed', () => {
  const good = { id: 'i', nonce: 'n', user: 'u', host: 'h', service: 's', rhost: 'r', created: 10, expires: 130 };
  for (const [k, v] of [['user', 'a\nb'], ['host', 7], ['rhost', undefined], ['created', 1.5], ['created', '10'],
    ['expires', -1], ['expires', 10], ['id', ''], ['nonce', '']]) {
    assert.throws(() => proto.challengeMessage({ ...good, [k]: v }), undefined, `${k}=${JSON.stringify(v)}`);
  }
  const d = { challengeHash: 'H', deviceId: 'd', decidedAt: 11 };
  assert.throws(() => proto.decisionMessage({ ...d, decision: 'approve', number: '' }));
  assert.throws(() => proto.decisionMessage({ ...d, decision: 'approve', number: '4' }));
  assert.throws(() => proto.decisionMessage({ ...d, decision: 'approve', number: '４２' }));
  assert.throws(() => proto.decisionMessage({ ...d, decision: 'approve', number: 42 }));
  assert.throws(() => proto.decisionMessage({ ...d, decision: 'deny', number: '42' }));
  assert.throws(() => proto.decisionMessage({ ...d, decision: 'allow', number: '' }));
  const h = '47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU';
  assert.throws(() => proto.deviceRequestMessage('get', '/v1/x', 'd', 1, 1, h));
  assert.throws(() => proto.deviceRequestMessage('GET', '/v1/x?y=1', 'd', 1, 1, h));
  assert.throws(() => proto.deviceRequestMessage('GET', '/x', 'd', 1, 1, h));
  assert.throws(() => proto.deviceRequestMessage('GET', '/v1/x', 'd', 1, 0, h), undefined, 'counter 0');
  assert.throws(() => proto.deviceRequestMessage('GET', '/v1/x', 'd', 1, 1.5, h), undefined, 'counter 1.5');
  assert.throws(() => proto.deviceRequestMessage('GET', '/v1/x', 'd', 1, 1, 'x'), undefined, 'body hash');
});

test('pairing fragment parsing', () => {
  const f = proto.parsePairingFragment(vectors.pairing.url_fragment);
  assert.equal(f.pairingId, vectors.pairing.pairing_id);
  assert.equal(proto.b64uEncode(f.secret), vectors.pairing.pairing_secret_b64u);
  assert.equal(f.user, 'alice');
  assert.equal(f.host, 'build-01.example.org');
  const enc = proto.parsePairingFragment('#p=x&k=' + 'A'.repeat(43) + '&u=j%C3%BCrgen&h=ws%207');
  assert.equal(enc.user, 'jürgen');
  assert.equal(enc.host, 'ws 7');
  assert.equal(proto.parsePairingFragment(''), null);
  assert.equal(proto.parsePairingFragment('#p=x&u=a&h=b'), null);
  assert.equal(proto.parsePairingFragment('#p=x&k=AAAA&u=a&h=b'), null, 'secret too short');
  assert.equal(proto.parsePairingFragment('#p=x&k=A%3D%3D&u=a&h=b'), null, 'padded secret');
});

test('vectors: pairing proof equals HMAC-SHA256 by node and by protocol.js', async () => {
  const v = vectors.pairing;
  assert.equal(v.message, proto.pairingMessage(v.pairing_id, v.public_key_b64u));
  const nodeMac = createHmac('sha256', Buffer.from(v.pairing_secret_b64u, 'base64url')).update(v.message).digest('base64url');
  assert.equal(v.proof_b64u, nodeMac);
  assert.equal(await proto.pairingProof(v.pairing_secret_b64u, v.pairing_id, v.public_key_b64u), nodeMac);
});

test('vectors: the key\'s public point matches its private scalar', () => {
  const k = vectors.device_key;
  const raw = Buffer.from(k.public_key_b64u, 'base64url');
  assert.equal(raw.length, 65);
  assert.equal(raw[0], 4);
  assert.equal(raw.subarray(1, 33).toString('base64url'), k.jwk.x);
  assert.equal(raw.subarray(33).toString('base64url'), k.jwk.y);
  // node derives the same point from d.
  const fromD = createPublicKey({ key: { ...k.jwk }, format: 'jwk' }).export({ format: 'jwk' });
  assert.equal(fromD.x, k.jwk.x);
  assert.equal(fromD.y, k.jwk.y);
});

test('vectors: challenge hashes, decision messages and signatures', async () => {
  const pub = vectors.device_key.public_key_b64u;
  for (const v of vectors.challenges) {
    assert.equal(proto.challengeMessage(v.challenge), v.challenge_message, v.name);
    const nodeHash = createHash('sha256').update(Buffer.from(v.challenge_message, 'utf8')).digest('base64url');
    assert.equal(v.challenge_hash_b64u, nodeHash, v.name);
    assert.equal(await proto.challengeHash(v.challenge), nodeHash, v.name);
    const b = v.decision_body;
    const message = proto.decisionMessage({ challengeHash: nodeHash, decision: b.decision, number: b.number, deviceId: b.device_id, decidedAt: b.decided_at });
    assert.equal(message, v.decision_message, v.name);
    assert.equal(Buffer.from(b.signature, 'base64url').length, 64, 'P1363 r||s');
    assert.ok(nodeVerifies(pub, message, b.signature), `node verifies: ${v.name}`);
    assert.ok(await proto.verify(pub, message, b.signature), `webcrypto verifies: ${v.name}`);
    assert.ok(!nodeVerifies(pub, v.must_not_verify_message, b.signature), `tampered must fail: ${v.name}`);
    // The twin with s' = n - s verifies too; exactly one of the two is high-S.
    assert.ok(nodeVerifies(pub, message, v.signature_other_s), `other s verifies: ${v.name}`);
    assert.ok(await proto.verify(pub, message, v.signature_other_s), `webcrypto: other s verifies: ${v.name}`);
    const sOf = (sig) => BigInt('0x' + Buffer.from(sig, 'base64url').subarray(32).toString('hex'));
    const half = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n / 2n;
    assert.equal(sOf(b.signature) > half, v.signature_is_high_s);
    assert.notEqual(sOf(b.signature) > half, sOf(v.signature_other_s) > half);
  }
  for (const r of [vectors.device_request, vectors.device_request_with_body]) {
    assert.equal(r.body_sha256_b64u, createHash('sha256').update(r.body).digest('base64url'));
    assert.equal(await proto.bodyHash(r.body), r.body_sha256_b64u);
    assert.equal(proto.deviceRequestMessage(r.method, r.path, r.device_id, r.timestamp, r.counter, r.body_sha256_b64u), r.message);
    assert.ok(nodeVerifies(pub, r.message, r.signature_b64u));
  }
  // The pairing completion's MAC, recomputed with node's HMAC.
  const p = vectors.pairing;
  const secret = Buffer.from(p.pairing_secret_b64u, 'base64url');
  const key = createHmac('sha256', secret).update('twofold-pairing-completion-key-v1').digest();
  const bodyHash = createHash('sha256').update(p.completion_body).digest('base64url');
  const mac = createHmac('sha256', key).update(`twofold-pairing-completion-v1\n${p.pairing_id}\n${bodyHash}`).digest('base64url');
  assert.equal(mac, p.completion_mac_b64u);
  assert.equal(await proto.pairingCompletionMac(p.pairing_secret_b64u, p.pairing_id, p.completion_body), mac);
});

test('a fresh non-extractable key signs decisions node verifies (DER too, via createVerify)', async () => {
  const keys = await proto.generateDeviceKey();
  assert.equal(keys.privateKey.extractable, false);
  const pub = await proto.exportPublicKey(keys.publicKey);
  assert.equal(Buffer.from(pub, 'base64url').length, 65);
  const c = vectors.challenges[0].challenge;
  const body = await proto.decisionBody(keys.privateKey, c, 'approve', '42', 'dev1', c.created + 5);
  assert.deepEqual(Object.keys(body).sort(), ['decided_at', 'decision', 'device_id', 'number', 'signature']);
  const msg = proto.decisionMessage({ challengeHash: vectors.challenges[0].challenge_hash_b64u, decision: 'approve', number: '42', deviceId: 'dev1', decidedAt: c.created + 5 });
  assert.ok(nodeVerifies(pub, msg, body.signature));
  // The same signature re-encoded as DER verifies through the default (DER) path as well:
  // r‖s really are the two 32-byte integers.
  const sig = Buffer.from(body.signature, 'base64url');
  const int = (b) => { let i = 0; while (i < b.length - 1 && b[i] === 0) i++; b = b.subarray(i); return b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b; };
  const r = int(sig.subarray(0, 32)), s = int(sig.subarray(32));
  const der = Buffer.concat([Buffer.from([0x30, 4 + r.length + s.length, 2, r.length]), r, Buffer.from([2, s.length]), s]);
  assert.ok(createVerify('sha256').update(msg).verify(nodePublicKey(pub), der));

  const h = await proto.deviceHeaders(keys.privateKey, 'GET', '/v1/devices/dev1/pending', 'dev1', 1234, 5678);
  assert.equal(h['X-Twofold-Time'], '1234');
  assert.equal(h['X-Twofold-Counter'], '5678');
  const empty = createHash('sha256').update('').digest('base64url');
  assert.ok(nodeVerifies(pub, `twofold-device-request-v2\nGET\n/v1/devices/dev1/pending\ndev1\n1234\n5678\n${empty}`, h['X-Twofold-Signature']));
  const putBody = '{"push_subscription":null}';
  const put = await proto.deviceHeaders(keys.privateKey, 'PUT', '/v1/devices/dev1/subscription', 'dev1', 1234, 5679, putBody);
  const hash = createHash('sha256').update(putBody).digest('base64url');
  assert.ok(nodeVerifies(pub, `twofold-device-request-v2\nPUT\n/v1/devices/dev1/subscription\ndev1\n1234\n5679\n${hash}`, put['X-Twofold-Signature']));
});
