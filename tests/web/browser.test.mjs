// The phone page (web/) in headless Chromium, driven by playwright-core, against the approval
// service (tests/web/service.mjs says which), with this test as the host (tests/web/host.mjs):
// pair from the QR URL, see the request with its context, type the number, approve; the
// waiting host gets a decision that verifies against the paired key. Also deny, report,
// Dutch, 320 px, dark, reload, a Web Push message, broken links.
//
//   cd tests/web && npm ci && node --test browser.test.mjs
// Needs /usr/bin/chromium (Debian's chromium) or CHROMIUM=/path. Screenshots go to
// $TWOFOLD_SCREENSHOT_DIR (default: <tmp>/twofold-page-screenshots).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { Host, hostVerdict } from './host.mjs';
import { startService } from './service.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.TWOFOLD_SCREENSHOT_DIR || path.join(os.tmpdir(), 'twofold-page-screenshots');
const WAIT = 30000; // any single wait in the browser: generous for a slow 2-core machine
const TEST_TIMEOUT = 180000;

let service;
let browser;
let host;
let userDataDir;
const contexts = new Set();
const LAUNCH = {
  executablePath: CHROMIUM,
  headless: true,
  timeout: 120000,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
};

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  service = await startService();
  host = new Host(service.url, service.hostToken);
  userDataDir = mkdtempSync(path.join(os.tmpdir(), 'twofold-chromium-'));
  browser = await chromium.launch(LAUNCH);
  console.log(`# chromium ${browser.version()}, service: ${service.kind} at ${service.url}, screenshots: ${SHOTS}`);
  // The service must serve this very page (a twofold binary built before a change to web/
  // would test an older one).
  for (const file of ['index.html', 'app.js', 'protocol.js', 'sw.js', 'style.css', 'manifest.webmanifest']) {
    const served = await (await fetch(`${service.url}/${file}`)).text();
    const onDisk = readFileSync(new URL(`../../web/${file}`, import.meta.url), 'utf8');
    assert.equal(served, onDisk, `${file} served by the service differs from web/${file}: rebuild twofold`);
  }
});

after(async () => {
  for (const context of contexts) await context.close().catch(() => {});
  await browser?.close();
  await service?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

/** A phone: a fresh browser context (own IndexedDB), watched for errors and for what it sends. */
async function phone({ locale = 'en-US', width = 390, height = 844, colorScheme = 'light', notifications = false, persistent = false, bypassCSP = false } = {}) {
  const options = {
    locale, colorScheme, viewport: { width, height }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    timezoneId: 'Europe/Amsterdam', bypassCSP,
  };
  // A persistent profile is a normal (not incognito) one: Chrome has no Push API in incognito.
  const context = persistent
    ? await chromium.launchPersistentContext(mkdtempSync(path.join(userDataDir, 'profile-')), { ...LAUNCH, ...options })
    : await browser.newContext(options);
  contexts.add(context);
  context.on('close', () => contexts.delete(context));
  context.setDefaultTimeout(WAIT);
  if (notifications) await context.grantPermissions(['notifications'], { origin: service.url });
  const page = (persistent && context.pages()[0]) || await context.newPage();
  const problems = [];
  const sent = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console ${msg.type()}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  context.on('request', (req) => sent.push({ url: req.url(), body: req.postData() || '', headers: req.headers() }));
  return { context, page, problems, sent };
}

/** Pairs a phone from the QR URL as a person would; returns the device as the host sees it. */
async function pair(ph, user, { deviceName } = {}) {
  const pairing = await host.createPairing(user);
  const { page } = ph;
  await page.goto(pairing.url);
  await page.locator('#pair-form').waitFor({ state: 'visible' });
  // The secret left the address bar as soon as the page read it.
  assert.equal(new URL(page.url()).hash, '', 'fragment cleared');
  assert.equal(new URL(page.url()).pathname, '/', 'path back to the page');
  if (deviceName) await page.locator('#device-name').fill(deviceName);
  const waiting = host.waitPairing(pairing);
  await page.locator('#pair-button').click();
  const device = await waiting;
  await page.locator('#pair-status[data-state="paired"]').waitFor();
  // The pairing secret never went anywhere.
  for (const r of ph.sent) {
    assert.ok(!r.url.includes(pairing.secretB64u) && !r.body.includes(pairing.secretB64u), `secret sent in ${r.url}`);
  }
  if (service.requests) {
    for (const r of service.requests) {
      assert.ok(!r.url.includes(pairing.secretB64u) && !r.body.includes(pairing.secretB64u) && !JSON.stringify(r.headers).includes(pairing.secretB64u));
    }
  }
  return { ...device, pairing };
}

/** The card of a challenge, once it is shown. */
async function card(page, challenge) {
  const el = page.locator(`li.request[data-challenge="${challenge.id}"]`);
  await el.waitFor({ state: 'visible' });
  return el;
}

async function shot(page, name) {
  const file = path.join(SHOTS, `${name}.png`);
  // A card fading in is not what a person looks at: the settled page.
  await page.waitForFunction(() => document.getAnimations().every((a) => a.playState === 'finished')).catch(() => {});
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

test('pair from the QR URL, see the sign-in with its context, type the number, approve', { timeout: TEST_TIMEOUT }, async () => {
  const ph = await phone({ notifications: true, persistent: true });
  const { page } = ph;
  const device = await pair(ph, 'alice', { deviceName: 'Alice’s test phone' });
  assert.equal(device.deviceName, 'Alice’s test phone');
  assert.equal(await page.locator('#pair-title').textContent(), 'Paired ✓');
  await page.locator('#account-list .account-name', { hasText: 'alice on build-01.example.org' }).waitFor();
  await shot(page, '01-paired-en');

  // The key is in IndexedDB as a CryptoKeyPair whose private half cannot be exported.
  const stored = await page.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open('twofold');
    open.onsuccess = () => {
      const req = open.result.transaction('accounts').objectStore('accounts').getAll();
      req.onsuccess = () => resolve(req.result.map((a) => ({
        device_id: a.device_id, user: a.user, host: a.host,
        privateType: a.keys.privateKey.type, extractable: a.keys.privateKey.extractable,
        algorithm: a.keys.privateKey.algorithm, usages: a.keys.privateKey.usages,
        isCryptoKey: a.keys.privateKey instanceof CryptoKey,
      })));
      req.onerror = () => reject(req.error);
    };
    open.onerror = () => reject(open.error);
  }));
  assert.deepEqual(stored, [{
    device_id: device.deviceId, user: 'alice', host: 'build-01.example.org', privateType: 'private',
    extractable: false, algorithm: { name: 'ECDSA', namedCurve: 'P-256' }, usages: ['sign'], isCryptoKey: true,
  }]);
  const exportRefused = await page.evaluate(() => new Promise((resolve) => {
    const open = indexedDB.open('twofold');
    open.onsuccess = () => {
      const req = open.result.transaction('accounts').objectStore('accounts').getAll();
      req.onsuccess = () => crypto.subtle.exportKey('pkcs8', req.result[0].keys.privateKey)
        .then(() => resolve(false), (e) => resolve(e.name));
    };
  }));
  assert.equal(exportRefused, 'InvalidAccessError');

  // A sign-in: the host posts the challenge and keeps the number.
  const { challenge, number } = await host.challenge('alice', [device.deviceId]);
  const c = await card(page, challenge);
  assert.equal(await c.locator('.f-user').textContent(), 'alice');
  assert.equal(await c.locator('.f-host').textContent(), 'build-01.example.org');
  // Words for a person, the system's name in small print.
  assert.equal(await c.locator('.f-service').textContent(), 'SSH sign-in');
  assert.equal(await c.locator('.f-service-raw').textContent(), 'service sshd');
  assert.equal(await c.locator('.f-rhost').textContent(), '192.0.2.10');
  assert.equal(await c.locator('.f-rhost-note').textContent(), 'network address of the other computer');
  assert.equal(await c.locator('h3').textContent(), 'Approve sign-in?');
  // Relative, with the date.
  assert.match(await c.locator('.f-time').textContent(), /^just now · [A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}( [AP]M)?$/);
  assert.match(await c.locator('.f-expires').textContent(), /^[0-2]:[0-5]\d$/);
  assert.match(await page.locator('#announce').textContent(), /New sign-in request: alice on build-01\.example\.org/);
  const input = c.getByLabel('Enter the number shown on your screen');
  assert.equal(await input.getAttribute('inputmode'), 'numeric');
  assert.equal(await input.getAttribute('autocomplete'), 'one-time-code');
  // Opened for the request, the number field has the focus (keyboard up, Enter approves).
  assert.equal(await input.evaluate((el) => el === document.activeElement), true);

  // Approve without the number: refused on the phone, nothing sent.
  const decisionsBefore = ph.sent.filter((r) => r.url.endsWith('/decision')).length;
  await c.getByRole('button', { name: 'Approve' }).click();
  await c.locator('.number-error', { hasText: '2-digit number' }).waitFor();
  assert.equal(await input.getAttribute('aria-invalid'), 'true');
  assert.equal(ph.sent.filter((r) => r.url.endsWith('/decision')).length, decisionsBefore);
  await shot(page, '02-request-number-missing-en');

  await input.fill(number);
  await shot(page, '03-request-number-typed-en');
  const waiting = host.waitDecision(challenge.id); // the host is already waiting when the user taps
  const tapped = Date.now();
  await input.press('Enter'); // Enter in the number field approves
  const decision = await waiting;
  const latency = Date.now() - tapped;
  // Until the host says, the page claims nothing.
  await c.locator('.result', { hasText: 'Sent — check your computer.' }).waitFor();
  assert.equal(await c.locator('.result').getAttribute('data-final'), null);
  assert.equal(await c.locator('h3').textContent(), 'Sent');
  await host.settle(challenge, number, decision, { [device.deviceId]: device.publicKey });
  await c.locator('.result[data-final]', { hasText: 'Signed in ✓' }).waitFor();
  assert.equal(await c.locator('h3').textContent(), 'Signed in');
  await shot(page, '04-approved-en');

  assert.equal(decision.decision, 'approve');
  assert.equal(decision.number, number);
  assert.equal(decision.device_id, device.deviceId);
  const verdict = hostVerdict(challenge, number, decision, { [device.deviceId]: device.publicKey });
  assert.deepEqual(verdict, { ok: true, signatureValid: true, reason: 'approved' });
  // The same signature does not approve with another number, nor another challenge.
  assert.equal(hostVerdict(challenge, number === '42' ? '43' : '42', decision, { [device.deviceId]: device.publicKey }).ok, false);
  assert.equal(hostVerdict({ ...challenge, rhost: '198.51.100.1' }, number, decision, { [device.deviceId]: device.publicKey }).signatureValid, false);
  console.log(`# tap to host: ${latency} ms (includes signing in the page)`);

  // A host that writes another name into its challenge: the phone shows the name the
  // service bound to its token (`twofold serve --add-host`), not the one it wrote.
  const liar = new Host(service.url, service.hostToken, 'bank.example');
  const { challenge: spoofed } = await liar.challenge('alice', [device.deviceId]);
  const s = await card(page, spoofed);
  assert.equal(await s.locator('.f-host').textContent(), 'build-01.example.org');

  // The service checked the page's device signatures on every poll and refused none.
  if (service.deviceAuthFailures) assert.deepEqual(service.deviceAuthFailures, []);
  if (service.log) assert.doesNotMatch(service.log(), /device_auth_failed/);
  // Once decided, the request leaves the pending list; the card keeps its answer.
  assert.deepEqual(ph.problems, []);
  await ph.context.close();
});

test('deny and "This wasn\'t me" reach the host signed, and approve needs two digits', { timeout: TEST_TIMEOUT }, async () => {
  const ph = await phone();
  const { page } = ph;
  const device = await pair(ph, 'bob');
  const keys = { [device.deviceId]: device.publicKey };

  const first = await host.challenge('bob', [device.deviceId], { service: 'sudo', rhost: '' });
  let c = await card(page, first.challenge);
  assert.equal(await c.locator('.f-service').textContent(), 'sudo (administrator rights)');
  assert.equal(await c.locator('.f-rhost').textContent(), 'the computer itself (no network address)');
  assert.equal(await c.locator('.f-rhost-note').textContent(), '');
  // Letters are dropped, one digit is not enough.
  await c.locator('input.number').pressSequentially('4x');
  assert.equal(await c.locator('input.number').inputValue(), '4');
  await c.getByRole('button', { name: 'Approve' }).click();
  await c.locator('.number-error:not(:empty)').waitFor();
  let waiting = host.waitDecision(first.challenge.id);
  await c.getByRole('button', { name: 'Deny' }).click();
  let decision = await waiting;
  assert.equal(decision.decision, 'deny');
  assert.equal(decision.number, '');
  const pausedUntil = Math.floor(Date.now() / 1000) + 600;
  assert.deepEqual(await host.settle(first.challenge, first.number, decision, keys, { pausedUntil }), { ok: false, signatureValid: true, reason: 'deny' });
  await c.locator('.result[data-final]', { hasText: /^Denied — nobody was signed in\. Until .+, your computer asks for a code instead of sending requests here\.$/ }).waitFor();

  const second = await host.challenge('bob', [device.deviceId], { rhost: '203.0.113.66' });
  c = await card(page, second.challenge);
  waiting = host.waitDecision(second.challenge.id);
  await c.getByRole('button', { name: 'This wasn’t me' }).click();
  decision = await waiting;
  assert.equal(decision.decision, 'report');
  // Nobody was alerted: the phone must not say somebody was.
  assert.deepEqual(await host.settle(second.challenge, second.number, decision, keys), { ok: false, signatureValid: true, reason: 'report' });
  await c.locator('.result[data-final]', { hasText: 'No alert went out automatically: tell your administrator yourself.' }).waitFor();
  assert.match(await c.locator('.result').textContent(), /change it soon \(and your SSH key, if you use one\)/);
  assert.doesNotMatch(await c.locator('.result').textContent(), /has been alerted|has been told/);
  // Answered cards are collapsed to their outcome, the newest answered first.
  assert.deepEqual(await page.locator('li.request h3').allTextContents(), ['Reported', 'Denied']);
  assert.equal(await c.locator('.context').isVisible(), false);
  await shot(page, '05-denied-and-reported-en');

  // After a reload the pairing is still there (key in IndexedDB) and new requests show.
  await page.reload();
  await page.locator('#account-list .account-name', { hasText: 'bob on build-01.example.org' }).waitFor();
  const third = await host.challenge('bob', [device.deviceId]);
  c = await card(page, third.challenge);
  await c.locator('input.number').fill(third.number);
  waiting = host.waitDecision(third.challenge.id);
  await c.getByRole('button', { name: 'Approve' }).click();
  decision = await waiting;
  assert.deepEqual(hostVerdict(third.challenge, third.number, decision, keys), { ok: true, signatureValid: true, reason: 'approved' });
  // A report after which the administrator was alerted says so.
  const fourth = await host.challenge('bob', [device.deviceId]);
  c = await card(page, fourth.challenge);
  waiting = host.waitDecision(fourth.challenge.id);
  await c.getByRole('button', { name: 'This wasn’t me' }).click();
  await host.settle(fourth.challenge, fourth.number, await waiting, keys, { alerted: true });
  await c.locator('.result[data-final]', { hasText: 'Reported — nobody was signed in, and your administrator has been alerted.' }).waitFor();
  assert.deepEqual(ph.problems, []);
  await ph.context.close();
});

test('Dutch phone, 320 px wide, dark: pair and approve', { timeout: TEST_TIMEOUT }, async () => {
  const ph = await phone({ locale: 'nl-NL', width: 320, height: 640, colorScheme: 'dark' });
  const { page } = ph;
  const pairing = await host.createPairing('jürgen');
  await page.goto(pairing.url);
  await page.getByRole('heading', { name: 'Deze telefoon koppelen' }).waitFor();
  assert.equal(await page.locator('html').getAttribute('lang'), 'nl');
  assert.equal(await page.locator('#pair-account').textContent(), 'Voor jürgen op build-01.example.org');
  // The words come from the message catalogues (src/core/locales/nl.toml, [phone]), served
  // as texts.json: the same file the module's and the command's Dutch texts come from.
  const texts = await page.evaluate(async () => (await fetch('texts.json')).json());
  assert.deepEqual(Object.keys(texts).sort(), ['en', 'nl']);
  assert.equal(texts.nl.pairTitle, 'Deze telefoon koppelen');
  assert.equal(await page.locator('#requests-title').textContent(), texts.nl.requestsTitle);
  assert.deepEqual(Object.keys(texts.nl).sort(), Object.keys(texts.en).sort(), 'every key in both');
  await shot(page, '06-pair-nl-320-dark');
  const waiting = host.waitPairing(pairing);
  await page.getByRole('button', { name: 'Koppelen' }).click();
  const device = await waiting;
  await page.getByRole('heading', { name: 'Gekoppeld ✓' }).waitFor();

  const { challenge, number } = await host.challenge('jürgen', [device.deviceId], { rhost: '2001:db8::7' });
  const c = await card(page, challenge);
  assert.equal(await c.locator('h3').textContent(), 'Aanmelding goedkeuren?');
  const input = c.getByLabel('Voer het getal in dat op uw scherm staat');
  await input.fill(number);
  // Nothing is wider than the 320 px screen.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.equal(overflow, 0, 'no horizontal scrolling at 320 px');
  // Targets are at least 44 px high.
  for (const name of ['Goedkeuren', 'Weigeren', 'Dit was ik niet']) {
    const box = await c.getByRole('button', { name }).boundingBox();
    assert.ok(box.height >= 44 && box.width >= 44, `${name}: ${box.width}x${box.height}`);
  }
  await shot(page, '07-request-nl-320-dark');
  const decisionPromise = host.waitDecision(challenge.id);
  await c.getByRole('button', { name: 'Goedkeuren' }).click();
  const decision = await decisionPromise;
  await c.locator('.result', { hasText: 'Verstuurd — kijk op uw computer.' }).waitFor();
  assert.equal((await host.settle(challenge, number, decision, { [device.deviceId]: device.publicKey })).ok, true);
  await c.locator('.result[data-final]', { hasText: 'Aangemeld ✓' }).waitFor();
  await shot(page, '08-approved-nl-320-dark');
  assert.deepEqual(ph.problems, []);
  await ph.context.close();
});

test('a used, expired or broken pairing link says so, and the secret still leaves the address bar', { timeout: TEST_TIMEOUT }, async () => {
  const ph = await phone();
  const { page } = ph;
  const device = await pair(ph, 'carol');
  assert.ok(device.deviceId);
  // The same link again: already used.
  await page.goto(device.pairing.url);
  await page.locator('#pair-button').click();
  await page.locator('#pair-status', { hasText: 'already been used' }).waitFor();
  assert.equal(new URL(page.url()).hash, '');
  // A link whose pairing the service does not know.
  const unknown = new URL(device.pairing.url);
  unknown.hash = new URLSearchParams({ p: 'no-such-pairing', k: device.pairing.secretB64u, u: 'carol', h: 'x' }).toString();
  await page.goto(unknown.href);
  await page.locator('#pair-button').click();
  await page.locator('#pair-status', { hasText: 'expired or is unknown' }).waitFor();
  // A damaged link (secret cut off).
  await page.goto(`${service.url}/pair#p=abc&u=carol&h=x`);
  await page.locator('#pair-status', { hasText: 'incomplete or damaged' }).waitFor();
  assert.equal(new URL(page.url()).hash, '');
  // The earlier pairing is untouched.
  await page.locator('#account-list .account-name', { hasText: 'carol on build-01.example.org' }).waitFor();
  assert.deepEqual(ph.problems.filter((p) => !/status of 40[49]/.test(p)), []);
  await ph.context.close();
});

test('a Web Push message shows a notification in the page\'s language; answering closes it', { timeout: TEST_TIMEOUT }, async () => {
  const ph = await phone({ notifications: true, persistent: true });
  const { page, context } = ph;
  const device = await pair(ph, 'dave');
  if (service.devices) console.log('# push subscription at pairing:', JSON.stringify(service.devices.get(device.deviceId).subscription));
  const swUrl = `${service.url}/sw.js`;
  // The worker is active and holds the page's notification texts.
  await page.waitForFunction(async () => {
    const reg = await navigator.serviceWorker.ready;
    const settings = await (await caches.open('twofold-settings-v1')).match(new URL('__twofold-settings.json', reg.scope).href);
    return Boolean(reg.active && settings);
  });
  const cdp = await context.newCDPSession(page);
  const registrations = [];
  cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => registrations.push(...e.registrations));
  await cdp.send('ServiceWorker.enable');
  const deadline = Date.now() + WAIT;
  while (!registrations.some((r) => r.scopeURL === `${service.url}/` && !r.isDeleted) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const reg = registrations.find((r) => r.scopeURL === `${service.url}/` && !r.isDeleted);
  assert.ok(reg, 'service worker registration seen');

  // No page of twofold in front: the worker shows a notification.
  await page.goto('about:blank');
  const { challenge } = await host.challenge('dave', [device.deviceId]);
  const tag = `twofold-${challenge.id}`;
  await cdp.send('ServiceWorker.deliverPushMessage', {
    origin: service.url, registrationId: reg.registrationId, data: JSON.stringify({ type: 'challenge', id: challenge.id }),
  });
  // Asked of the worker itself (a twofold page opened now could race the push and be the
  // focused page the worker leaves the request to).
  // Asked of the worker itself (a twofold page opened now could race the push and be the
  // focused page the worker leaves the request to). Headless Chromium now and then does not
  // list a notification it has shown (seen in about 1 of 6 full runs: showNotification
  // resolved, getNotifications stayed empty), so the worker's own record of what it showed
  // is the evidence, and the listed notification is checked when Chromium lists it.
  let notes = [];
  let lastPush = null;
  const seen = new Set(); // what went wrong on the way, for the failure message
  const until = Date.now() + WAIT;
  let shownSeenAt = 0; // when the worker's record first said "shown"
  while (notes.length === 0 && !(shownSeenAt && Date.now() - shownSeenAt > 5000) && Date.now() < until) {
    // Every worker of ours, afresh each round: a handle can go stale when the worker restarts.
    for (const worker of context.serviceWorkers().filter((w) => w.url() === swUrl)) {
      try {
        const r = await worker.evaluate(async (t) => ({
          notes: (await self.registration.getNotifications({ tag: t }))
            .map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data })),
          lastPush: self.lastPush || null,
        }), tag);
        if (r.lastPush) lastPush = r.lastPush;
        if (lastPush?.id === challenge.id && lastPush.shown !== undefined && !shownSeenAt) shownSeenAt = Date.now();
        if (r.notes.length) notes = r.notes;
      } catch (e) {
        seen.add(`evaluate: ${e.message.split('\n')[0]}`);
      }
    }
    if (notes.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  const expected = { title: 'Sign-in request', body: 'Tap to see who is signing in, and approve or deny.', tag };
  assert.ok(lastPush, `the worker handled the push (${[...seen].join(' | ')})`);
  const { at, ...handled } = lastPush;
  assert.deepEqual(handled, { id: challenge.id, clients: 0, inFront: false, ...expected, shown: true });
  if (notes.length === 0) console.log('# headless Chromium did not list the shown notification (known flake): checked the worker\'s record only');
  else assert.deepEqual(notes, [{ ...expected, data: { id: challenge.id } }]);
  // The page shows the request; answering it closes the notification.
  await page.goto(`${service.url}/`);
  const c = await card(page, challenge);
  const waiting = host.waitDecision(challenge.id);
  await c.getByRole('button', { name: 'Deny' }).click();
  await waiting;
  if (notes.length) await page.waitForFunction(async (t) => (await (await navigator.serviceWorker.ready).getNotifications({ tag: t })).length === 0, tag);
  assert.deepEqual(ph.problems, []);
  await context.close();
});

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's WCAG 2.1 A/AA and best-practice rules on the page as it is now. */
async function axe(page, label) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: AXE_SOURCE });
  // A card fading in is not yet at its final contrast: measure the settled page.
  await page.waitForFunction(() => document.getAnimations().every((a) => a.playState === 'finished'));
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return { violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) })), passes: r.passes.length };
  });
  assert.deepEqual(result.violations, [], `${label}: axe violations`);
  assert.ok(result.passes > 10, `${label}: axe ran (${result.passes} rules passed)`);
  return result.passes;
}

test('no accessibility violations (axe-core, WCAG 2.1 AA) on pairing, a request, an error and a result, light and dark', { timeout: TEST_TIMEOUT }, async () => {
  for (const [colorScheme, locale, width] of [['light', 'en-US', 390], ['dark', 'nl-NL', 320]]) {
    // axe is injected as a script: this context alone lets it past the page's CSP.
    const ph = await phone({ colorScheme, locale, width, height: 700, bypassCSP: true });
    const { page } = ph;
    const pairing = await host.createPairing('erin');
    await page.goto(pairing.url);
    await page.locator('#pair-form').waitFor();
    let passes = await axe(page, `${colorScheme} pairing`);
    const waiting = host.waitPairing(pairing);
    await page.locator('#pair-button').click();
    const device = await waiting;
    await page.locator('#pair-status[data-state="paired"]').waitFor();
    const { challenge } = await host.challenge('erin', [device.deviceId]);
    const c = await card(page, challenge);
    passes = Math.min(passes, await axe(page, `${colorScheme} request`));
    // Keyboard: from the number field, Tab goes Approve, Deny, This wasn't me.
    await c.locator('input.number').focus();
    const order = [];
    for (let i = 0; i < 3; i++) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate(() => document.activeElement.className));
    }
    assert.deepEqual(order, ['primary approve', 'deny', 'report danger']);
    await c.locator('button.approve').click(); // no number: the error is shown
    await c.locator('.number-error:not(:empty)').waitFor();
    passes = Math.min(passes, await axe(page, `${colorScheme} number error`));
    const decided = host.waitDecision(challenge.id);
    await c.locator('button.report').click();
    await c.locator('.result[data-state="sent"]').waitFor();
    passes = Math.min(passes, await axe(page, `${colorScheme} sent`));
    await host.settle(challenge, '', await decided, { [device.deviceId]: device.publicKey });
    await c.locator('.result[data-state="reported"][data-final]').waitFor();
    passes = Math.min(passes, await axe(page, `${colorScheme} result`));
    console.log(`# axe ${colorScheme}/${locale}/${width}px: no violations (at least ${passes} rules passed per screen)`);
    assert.deepEqual(ph.problems, []);
    await ph.context.close();
  }
});

test('phone-driver.mjs (the phone for other end-to-end tests) pairs, approves and denies over JSON lines', { timeout: TEST_TIMEOUT }, async () => {
  const { spawn } = await import('node:child_process');
  const { createInterface } = await import('node:readline');
  const driver = spawn(process.execPath, [new URL('./phone-driver.mjs', import.meta.url).pathname], {
    stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, CHROMIUM },
  });
  const replies = createInterface({ input: driver.stdout })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await replies.next()).value);
  const ask = async (msg) => {
    driver.stdin.write(JSON.stringify(msg) + '\n');
    return next();
  };
  try {
    assert.equal((await next()).ready, true);
    const pairing = await host.createPairing('frank');
    const waiting = host.waitPairing(pairing);
    assert.deepEqual(await ask({ cmd: 'pair', url: pairing.url, device_name: 'driver phone' }), { ok: true });
    const device = await waiting;
    assert.equal(device.deviceName, 'driver phone');
    const keys = { [device.deviceId]: device.publicKey };

    const first = await host.challenge('frank', [device.deviceId]);
    let decided = host.waitDecision(first.challenge.id);
    assert.deepEqual(await ask({ cmd: 'answer', decision: 'approve', number: first.number }),
      { ok: true, result: 'Sent — check your computer.', user: 'frank', host: 'build-01.example.org', service: 'SSH sign-in', rhost: '192.0.2.10' });
    assert.equal((await host.settle(first.challenge, first.number, await decided, keys)).ok, true);
    assert.deepEqual(await ask({ cmd: 'verdict' }), { ok: true, result: 'Signed in ✓', state: 'approved' });

    const second = await host.challenge('frank', [device.deviceId]);
    decided = host.waitDecision(second.challenge.id);
    assert.equal((await ask({ cmd: 'answer', decision: 'deny' })).result, 'Sent — check your computer.');
    assert.equal((await host.settle(second.challenge, second.number, await decided, keys)).reason, 'deny');
    assert.deepEqual(await ask({ cmd: 'verdict' }), { ok: true, result: 'Denied — nobody was signed in.', state: 'denied' });
    assert.equal((await ask({ cmd: 'nonsense' })).ok, false);
  } finally {
    driver.stdin.end(JSON.stringify({ cmd: 'quit' }) + '\n');
    await new Promise((resolve) => (driver.exitCode !== null ? resolve() : driver.once('exit', resolve)));
  }
});

test('a phone clock 10 minutes fast: the page corrects it from the service\'s Date header', { timeout: TEST_TIMEOUT }, async () => {
  const ph = await phone();
  const { page, context } = ph;
  // Only the clock is fake (Date.now runs 10 minutes ahead); timers and the network are real.
  await context.clock.install({ time: Date.now() + 10 * 60 * 1000 });
  await context.clock.resume();
  const device = await pair(ph, 'gina');
  assert.ok(await page.evaluate(() => Date.now()) - Date.now() > 9 * 60 * 1000, 'the page\'s clock is fast');
  const { challenge, number } = await host.challenge('gina', [device.deviceId]);
  const c = await card(page, challenge); // device-signed polls got through (±120 s window)
  // The countdown counts on the service's time, not the phone's.
  const left = await c.locator('.f-expires').textContent();
  assert.match(left, /^(1:[0-5]\d|2:00)$/, `countdown ${left}`);
  await c.locator('input.number').fill(number);
  const waiting = host.waitDecision(challenge.id);
  await c.getByRole('button', { name: 'Approve' }).click();
  const decision = await waiting;
  assert.deepEqual(hostVerdict(challenge, number, decision, { [device.deviceId]: device.publicKey }),
    { ok: true, signatureValid: true, reason: 'approved' });
  assert.ok(Math.abs(decision.decided_at - Math.floor(Date.now() / 1000)) < 30, 'decided_at is the service\'s time');
  assert.deepEqual(ph.problems.filter((p) => !/status of 401/.test(p)), []);
  await ph.context.close();
});

test('offline: the worker\'s cached shell starts the page, which says it cannot reach the service and recovers', { timeout: TEST_TIMEOUT }, async () => {
  const ph = await phone();
  const { page, context } = ph;
  const device = await pair(ph, 'hank');
  await page.waitForFunction(async () => {
    const reg = await navigator.serviceWorker.ready;
    const cache = await caches.open('twofold-shell-v1');
    return Boolean(reg.active) && (await cache.keys()).length >= 5;
  });
  await context.setOffline(true);
  await page.reload();
  await page.locator('#page-status', { hasText: 'Cannot reach the approval service' }).waitFor();
  await page.locator('#account-list .account-name', { hasText: 'hank on build-01.example.org' }).waitFor();
  await shot(page, '09-offline-en');
  await context.setOffline(false);
  const { challenge, number } = await host.challenge('hank', [device.deviceId]);
  const c = await card(page, challenge);
  await page.locator('#page-status').waitFor({ state: 'hidden' });
  await c.locator('input.number').fill(number);
  const waiting = host.waitDecision(challenge.id);
  await c.getByRole('button', { name: 'Approve' }).click();
  assert.equal(hostVerdict(challenge, number, await waiting, { [device.deviceId]: device.publicKey }).ok, true);
  assert.deepEqual(ph.problems.filter((p) => !/ERR_INTERNET_DISCONNECTED|Failed to fetch|Failed to load resource/.test(p)), []);
  await context.close();
});

test('a new phone sees "not paired" first; the test push reads as a test; a wrong number ends "did not match" (390×844, en and nl, light and dark)', { timeout: TEST_TIMEOUT * 2 }, async () => {
  const WORDS = {
    en: { notPaired: 'This phone is not paired yet', test: 'Test notification', testRaw: 'service twofold-enroll',
      testOk: 'Test approved ✓ — your computer finishes the setup.', approve: 'Approve', sent: 'Sent — check your computer.',
      mismatch: 'Refused — the number did not match.', refusedTitle: 'Refused', ssh: 'SSH sign-in' },
    nl: { notPaired: 'Deze telefoon is nog niet gekoppeld', test: 'Testmelding', testRaw: 'dienst twofold-enroll',
      testOk: 'Test goedgekeurd ✓ — uw computer rondt de instelling af.', approve: 'Goedkeuren', sent: 'Verstuurd — kijk op uw computer.',
      mismatch: 'Geweigerd — het getal klopte niet.', refusedTitle: 'Geweigerd door uw computer', ssh: 'Aanmelding via SSH' },
  };
  for (const [lang, locale] of [['en', 'en-US'], ['nl', 'nl-NL']]) {
    for (const colorScheme of ['light', 'dark']) {
      const w = WORDS[lang];
      const tag = `${lang}-${colorScheme}`;
      const ph = await phone({ locale, colorScheme, width: 390, height: 844 });
      const { page } = ph;
      // A phone that was never paired: that comes first, no "no requests" before it.
      await page.goto(`${service.url}/`);
      await page.locator('#no-accounts', { hasText: w.notPaired }).waitFor();
      assert.equal(await page.locator('#requests').isVisible(), false);
      assert.equal(await page.locator('#install').isVisible(), false);
      await shot(page, `10-not-paired-${tag}`);

      const device = await pair(ph, 'ivy');
      const keys = { [device.deviceId]: device.publicKey };
      // The enrollment's test push: called a test, and placed above the "paired" card.
      const test = await host.challenge('ivy', [device.deviceId], { service: 'twofold-enroll', rhost: '' });
      let c = await card(page, test.challenge);
      assert.equal(await c.locator('h3').textContent(), w.test);
      assert.equal(await c.locator('.f-service').textContent(), w.test);
      assert.equal(await c.locator('.f-service-raw').textContent(), w.testRaw);
      assert.ok(await c.locator('.request-intro').isVisible());
      assert.equal(await c.locator('.rhost-row').isVisible(), false, 'a test has no "from"');
      const above = await page.evaluate(() => Boolean(document.querySelector('#requests').compareDocumentPosition(document.querySelector('#pair')) & Node.DOCUMENT_POSITION_FOLLOWING));
      assert.ok(above, 'the request that needs the tap is above the "paired" card');
      assert.ok((await c.boundingBox()).y < (await page.locator('#pair').boundingBox()).y);
      await shot(page, `11-test-push-${tag}`);
      await c.locator('input.number').fill(test.number);
      let waiting = host.waitDecision(test.challenge.id);
      await c.getByRole('button', { name: w.approve }).click();
      assert.equal((await host.settle(test.challenge, test.number, await waiting, keys)).ok, true);
      await c.locator('.result[data-final]', { hasText: w.testOk }).waitFor();

      // A sign-in answered with the wrong number: the service accepts the signed answer, the
      // host refuses it, and the phone says what the host said — never "approved".
      const signIn = await host.challenge('ivy', [device.deviceId], { rhost: '198.51.100.23' });
      c = await card(page, signIn.challenge);
      assert.equal(await c.locator('.f-service').textContent(), w.ssh);
      const wrong = signIn.number === '42' ? '43' : '42';
      await c.locator('input.number').fill(wrong);
      await shot(page, `12-request-${tag}`);
      waiting = host.waitDecision(signIn.challenge.id);
      await c.getByRole('button', { name: w.approve }).click();
      const decision = await waiting;
      await c.locator('.result', { hasText: w.sent }).waitFor();
      assert.deepEqual(await host.settle(signIn.challenge, signIn.number, decision, keys),
        { ok: false, signatureValid: true, reason: 'wrong number' });
      await c.locator('.result[data-final][data-state="number_mismatch"]', { hasText: w.mismatch }).waitFor();
      assert.equal(await c.locator('h3').textContent(), w.refusedTitle);
      assert.doesNotMatch(await page.locator('#requests').textContent(), /Approved|Signed in ✓|Goedgekeurd ✓|Aangemeld ✓/);
      // Nothing wider than the screen.
      assert.equal(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth), 0);
      await shot(page, `13-wrong-number-${tag}`);
      assert.deepEqual(ph.problems, []);
      await ph.context.close();
    }
  }
});

test('iOS Safari, not installed: install first, then pair', { timeout: TEST_TIMEOUT }, async () => {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'en-US',
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  });
  contexts.add(context);
  const page = await context.newPage();
  const pairing = await host.createPairing('jo');
  await page.goto(pairing.url);
  const hint = page.locator('#ios-install-first');
  await hint.waitFor();
  assert.match(await hint.textContent(), /install twofold first: tap Share, then “Add to Home Screen”/);
  // Before the Pair button: read first.
  assert.ok((await hint.boundingBox()).y < (await page.locator('#pair-button').boundingBox()).y);
  await shot(page, '14-ios-install-first-en');
  await context.close();
});
