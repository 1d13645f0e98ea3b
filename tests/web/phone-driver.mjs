// A phone for other tests: the real page in headless Chromium, driven by JSON lines on stdin,
// answering one JSON line each on stdout. For end-to-end tests in any language (a Rust test
// signing in through libpam, say): pair from the QR URL that `twofold enroll --push` prints,
// then approve the request with the number the sign-in shows.
//
//   node tests/web/phone-driver.mjs            (CHROMIUM=/usr/bin/chromium, SCREENSHOT_DIR=…)
//   → {"ready":true,"chromium":"156…"}
//   ← {"cmd":"pair","url":"https://…/pair#p=…&k=…&u=…&h=…","device_name":"test phone"}
//   → {"ok":true}
//   ← {"cmd":"answer","decision":"approve","number":"42"}      (deny / report: no number)
//   → {"ok":true,"result":"Sent — check your computer.","user":"alice","host":"web1","service":"SSH sign-in","rhost":"192.0.2.10"}
//   ← {"cmd":"verdict"}        (after the host decided: waits for the host's verdict on the last answer)
//   → {"ok":true,"result":"Signed in ✓","state":"approved"}
//   ← {"cmd":"quit"}
// Failures answer {"ok":false,"error":"…"}; the driver keeps going. Waits are generous (60 s).
import { createInterface } from 'node:readline';
import path from 'node:path';
import os from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { chromium } from 'playwright-core';

const WAIT = Number(process.env.PHONE_WAIT_MS || 60000);
const shots = process.env.SCREENSHOT_DIR;
const profile = mkdtempSync(path.join(os.tmpdir(), 'twofold-phone-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  timeout: 120000,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  locale: process.env.PHONE_LOCALE || 'en-US',
  viewport: { width: 390, height: 844 },
  isMobile: true,
  hasTouch: true,
});
context.setDefaultTimeout(WAIT);
const page = context.pages()[0] || (await context.newPage());
const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
let step = 0;

async function shot(name) {
  if (shots) await page.screenshot({ path: path.join(shots, `${String(++step).padStart(2, '0')}-${name}.png`), fullPage: true });
}

async function pair({ url, device_name: deviceName }) {
  await page.goto(url);
  await page.locator('#pair-form').waitFor({ state: 'visible' });
  if (deviceName) await page.locator('#device-name').fill(deviceName);
  await page.locator('#pair-button').click();
  await page.locator('#pair-status[data-state="paired"], #pair-status[data-state="error"]').waitFor();
  await shot('paired');
  const state = await page.locator('#pair-status').getAttribute('data-state');
  if (state !== 'paired') throw new Error(await page.locator('#pair-status').textContent());
  return {};
}

let lastAnswered = null;

async function answer({ decision, number = '' }) {
  // The oldest open request (the page shows the pending list of every paired account).
  const open = page.locator('li.request:not([data-state])').first();
  await open.waitFor({ state: 'visible' });
  // Pinned by its challenge: once answered it no longer matches ":not([data-state])".
  const card = page.locator(`li.request[data-challenge="${await open.getAttribute('data-challenge')}"]`);
  const context = {};
  for (const f of ['user', 'host', 'service', 'rhost']) context[f] = await card.locator(`.f-${f}`).textContent();
  if (number) await card.locator('input.number').fill(number);
  await shot(`request-${decision}`);
  await card.locator({ approve: 'button.approve', deny: 'button.deny', report: 'button.report' }[decision]).click();
  await card.locator('.result[data-state]').waitFor();
  lastAnswered = card;
  await shot(`answered-${decision}`);
  return { result: await card.locator('.result').textContent(), ...context };
}

async function verdict() {
  if (!lastAnswered) throw new Error('nothing answered yet');
  const result = lastAnswered.locator('.result[data-final]');
  await result.waitFor();
  await shot('verdict');
  return { result: await result.textContent(), state: await result.getAttribute('data-state') };
}

say({ ready: true, chromium: context.browser()?.version() ?? 'persistent' });
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    say({ ok: false, error: 'not JSON' });
    continue;
  }
  if (msg.cmd === 'quit') break;
  try {
    const out = msg.cmd === 'pair' ? await pair(msg) : msg.cmd === 'answer' ? await answer(msg)
      : msg.cmd === 'verdict' ? await verdict() : null;
    if (!out) throw new Error(`unknown cmd ${msg.cmd}`);
    say({ ok: true, ...out });
  } catch (e) {
    say({ ok: false, error: String(e.message || e).split('\n')[0] });
  }
}
lines.close();
await context.close();
rmSync(profile, { recursive: true, force: true });
process.exit(0); // stdin may still be open: do not wait for it
