// Writes tests/web/vectors.json: interoperability vectors for the push protocol's device side,
// made with web/protocol.js (the page's own code) running on node's WebCrypto.
//
//   node tests/web/make-vectors.mjs > tests/web/vectors.json
//
// Everything is fixed except the ECDSA signatures (WebCrypto's ECDSA uses a random k): a
// verifier checks that each signature verifies, never that it equals these bytes.
// protocol.test.mjs checks the committed file against protocol.js and node's crypto.
import { createECDH, createHash } from 'node:crypto';
import * as proto from '../../web/protocol.js';

const b64u = proto.b64uEncode;

// The group order of P-256: (r, n - s) is the other valid signature for (r, s). WebCrypto does
// not normalise s, so a verifier must accept both halves ("high S" too).
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
function otherS(signatureB64u) {
  const sig = proto.b64uDecode(signatureB64u);
  const s = BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'));
  const twin = Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex');
  return b64u(Buffer.concat([Buffer.from(sig.subarray(0, 32)), twin]));
}
const isHighS = (signatureB64u) => BigInt('0x' + Buffer.from(proto.b64uDecode(signatureB64u).subarray(32)).toString('hex')) > N / 2n;

// The fixed device key: d = SHA-256("twofold test vector device key 1").
const d = createHash('sha256').update('twofold test vector device key 1').digest();
const ecdh = createECDH('prime256v1');
ecdh.setPrivateKey(d);
const pub = ecdh.getPublicKey(); // uncompressed, 65 bytes
const jwk = {
  kty: 'EC', crv: 'P-256',
  x: b64u(pub.subarray(1, 33)), y: b64u(pub.subarray(33, 65)), d: b64u(d),
};
const privateKey = await crypto.subtle.importKey('jwk', { ...jwk, key_ops: ['sign'], ext: true },
  { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
const publicKeyB64u = b64u(pub);

const deviceId = 'dev_Q2FmZmVpbmVJc0dvb2Q';
// The pairing secret: 32 bytes 0x00..0x1f.
const pairingSecret = Uint8Array.from({ length: 32 }, (_, i) => i);
const pairingId = 'pair_7mX2c9QwLkVb3nZt';

const challenges = [
  {
    name: 'ssh sign-in, approved with the number',
    challenge: {
      id: 'Yx3Vb9kTq2Lm8Np4Rs6Wz1', nonce: 'n0nc3_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw',
      user: 'alice', host: 'build-01.example.org', service: 'sshd', rhost: '192.0.2.10',
      created: 1767225600, expires: 1767225720,
    },
    decision: 'approve', number: '42', decided_at: 1767225611,
  },
  {
    name: 'local sudo (no remote address), non-ASCII user name, denied',
    challenge: {
      id: 'Zq8Wm2Xp5Kr1Tn7Ys4Vb0c', nonce: 'HxW3-mK9_pQ2rT5vY8zB1cD4fG7hJ0kL3nP6sU9wX2a',
      user: 'jürgen', host: 'ws-7', service: 'sudo', rhost: '',
      created: 1767225900, expires: 1767226020,
    },
    decision: 'deny', number: '', decided_at: 1767225903,
  },
  {
    name: 'IPv6 remote address, reported as not me',
    challenge: {
      id: 'Ab1Cd2Ef3Gh4Ij5Kl6Mn7o', nonce: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      user: 'bob', host: 'db.example.org', service: 'sshd', rhost: '2001:db8::7',
      created: 1767229200, expires: 1767229500,
    },
    decision: 'report', number: '', decided_at: 1767229260,
  },
];

const out = {
  description: 'twofold push protocol v1 device-side vectors, made by tests/web/make-vectors.mjs with web/protocol.js. ' +
    'Strings are UTF-8; b64u is unpadded base64url; signatures are ECDSA P-256/SHA-256 in IEEE P1363 form (r||s, 64 bytes) ' +
    'and randomized: check that they verify, not that they are equal. WebCrypto does not normalise s: each decision carries ' +
    'signature_other_s, the same signature with s replaced by n - s, which must verify too (one of the two is high-S).',
  device_key: {
    jwk,
    private_key_d_b64u: b64u(d),
    public_key_b64u: publicKeyB64u,
    device_id: deviceId,
  },
  pairing: {
    pairing_id: pairingId,
    pairing_secret_b64u: b64u(pairingSecret),
    public_key_b64u: publicKeyB64u,
    message: proto.pairingMessage(pairingId, publicKeyB64u),
    proof_b64u: await proto.pairingProof(pairingSecret, pairingId, publicKeyB64u),
    url_fragment: '#' + new URLSearchParams({ p: pairingId, k: b64u(pairingSecret), u: 'alice', h: 'build-01.example.org' }),
  },
  device_request: {
    method: 'GET', path: `/v1/devices/${deviceId}/pending`, device_id: deviceId, timestamp: 1767225605,
    counter: 1767225605123, body: '',
  },
  device_request_with_body: {
    method: 'PUT', path: `/v1/devices/${deviceId}/subscription`, device_id: deviceId, timestamp: 1767225606,
    counter: 1767225606000, body: '{"push_subscription":null}',
  },
  challenges: [],
};
for (const r of [out.device_request, out.device_request_with_body]) {
  r.body_sha256_b64u = await proto.bodyHash(r.body);
  r.message = proto.deviceRequestMessage(r.method, r.path, deviceId, r.timestamp, r.counter, r.body_sha256_b64u);
  r.signature_b64u = await proto.sign(privateKey, r.message);
}
{
  const body = JSON.stringify({ public_key: publicKeyB64u, proof: out.pairing.proof_b64u, device_name: 'Test phone' });
  out.pairing.completion_body = body;
  out.pairing.completion_mac_b64u = await proto.pairingCompletionMac(pairingSecret, pairingId, body);
}

for (const v of challenges) {
  const hash = await proto.challengeHash(v.challenge);
  const message = proto.decisionMessage({ challengeHash: hash, decision: v.decision, number: v.number, deviceId, decidedAt: v.decided_at });
  const signature = await proto.sign(privateKey, message);
  // The same signature over the message with another number (or decision) must NOT verify.
  const tampered = proto.decisionMessage({ challengeHash: hash, decision: 'approve', number: v.number === '42' ? '24' : '42', deviceId, decidedAt: v.decided_at });
  out.challenges.push({
    name: v.name,
    challenge: v.challenge,
    challenge_message: proto.challengeMessage(v.challenge),
    challenge_hash_b64u: hash,
    decision_body: { device_id: deviceId, decision: v.decision, number: v.number, decided_at: v.decided_at, signature },
    decision_message: message,
    // The same signature with s replaced by n - s: equally valid, and one of the two is high-S.
    signature_other_s: otherS(signature),
    signature_is_high_s: isHighS(signature),
    must_not_verify_message: tampered,
  });
}

process.stdout.write(JSON.stringify(out, null, 2) + '\n');
