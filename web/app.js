// twofold phone page: pairing and approving sign-ins (docs/push-protocol.md).
// Plain ES module, no framework, no build step; the texts are loaded from texts.json.
import * as proto from './protocol.js';

// ---------------------------------------------------------------- texts (every catalogue)

// The texts come from twofold's message catalogues (src/core/locales/<language>.toml, the
// [phone] tables), served by `twofold serve` as texts.json: one place for every language of
// the module, the command and this page. Kept by the service worker for offline starts.
const TEXTS = await loadTexts();

/** {en: {key: text}, nl: {...}}; without them (no connection, no cache) every key reads as itself. */
async function loadTexts() {
  try {
    const res = await fetch('texts.json');
    if (res.ok) {
      const texts = await res.json();
      if (texts && typeof texts === 'object' && texts.en) return texts;
    }
  } catch {
    // Offline without a cached copy: the keys below stand in.
  }
  return { en: {} };
}

/** The first of the browser's languages that twofold speaks; English otherwise. */
function pickLanguage(languages) {
  for (const tag of languages || []) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (base in TEXTS) return base;
  }
  return 'en';
}

const LANG = pickLanguage(navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language]);
const T = TEXTS[LANG];

/** A text with {placeholders} filled in. */
function t(key, vars = {}) {
  const s = T[key] ?? TEXTS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

// ---------------------------------------------------------------- small helpers

const $ = (sel, root = document) => root.querySelector(sel);

function show(el, on = true) {
  el.hidden = !on;
}

/** The service's base: the page's own directory, so a prefix in front of /v1/ keeps working. */
const BASE = new URL('./', document.baseURI);
function apiUrl(path) {
  return new URL(path.replace(/^\//, ''), BASE).href;
}

// The service's clock, learnt from each response's Date header: device requests and decisions
// carry timestamps the service and host check (±120 s; created ≤ decided_at ≤ expires).
let clockOffset = 0;
function noteServerTime(res) {
  const date = Date.parse(res.headers.get('Date') || '');
  if (Number.isNaN(date)) return;
  const offset = Math.round((date + 500 - Date.now()) / 1000);
  // Date has one-second resolution: ignore small differences, trust large ones.
  clockOffset = Math.abs(offset) >= 3 ? offset : 0;
}
function serverNow() {
  return Math.floor(Date.now() / 1000) + clockOffset;
}

/** body: an object sent as JSON, or rawBody: the exact text (when it is signed or MACed). */
async function request(method, path, { body, rawBody, headers = {} } = {}) {
  const init = { method, headers: { ...headers }, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
  const text = rawBody !== undefined ? rawBody : body !== undefined ? JSON.stringify(body) : undefined;
  if (text !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = text;
  }
  const res = await fetch(apiUrl(path), init);
  noteServerTime(res);
  return res;
}

// Every device request carries a counter above the last one (the service refuses replays). It
// starts from the corrected clock in milliseconds and is kept per device, so it keeps growing
// across reloads; requests are sent one at a time, so they arrive in counter order.
function nextCounter(account) {
  const key = `twofold-counter-${account.device_id}`;
  let last = 0;
  try {
    last = Number(localStorage.getItem(key)) || 0;
  } catch {
    // no storage: the clock alone keeps it growing
  }
  const next = Math.max(Date.now() + clockOffset * 1000, last + 1);
  try {
    localStorage.setItem(key, String(next));
  } catch {
    // as above
  }
  return next;
}

let deviceQueue = Promise.resolve();

/** A device-authenticated request (X-Twofold-Device / -Time / -Counter / -Signature over the body). */
function deviceRequest(account, method, path, body) {
  const run = async () => {
    const rawBody = body === undefined ? undefined : JSON.stringify(body);
    const headers = await proto.deviceHeaders(account.keys.privateKey, method, path, account.device_id,
      serverNow(), nextCounter(account), rawBody ?? '');
    return request(method, path, { rawBody, headers });
  };
  const result = deviceQueue.then(run, run);
  deviceQueue = result.catch(() => undefined);
  return result;
}

function failureDetail(err) {
  if (err && typeof err.status === 'number') return t('httpStatus', { status: err.status });
  return t('networkError');
}

class HttpError extends Error {
  constructor(status) {
    super(`HTTP ${status}`);
    this.status = status;
  }
}

function withTimeout(promise, ms) {
  return Promise.race([promise, new Promise((resolve) => setTimeout(() => resolve(null), ms))]);
}

// ---------------------------------------------------------------- storage (IndexedDB)
// One record per paired account: {device_id, user, host, device_name, public_key, keys, paired_at,
// push_endpoint}. keys is the CryptoKeyPair itself: IndexedDB stores it by structured clone, so
// the private key stays non-extractable and never exists as bytes outside the browser.

const DB_NAME = 'twofold';
const STORE = 'accounts';

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'device_id' });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function dbDo(mode, fn) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const result = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(result && 'result' in result ? result.result : undefined);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

const db = {
  all: () => dbDo('readonly', (s) => s.getAll()),
  put: (account) => dbDo('readwrite', (s) => s.put(account)),
  remove: (deviceId) => dbDo('readwrite', (s) => s.delete(deviceId)),
};

// ---------------------------------------------------------------- state

let accounts = []; // records from IndexedDB
const accountProblems = new Map(); // device_id -> text key
const cards = new Map(); // `${device_id} ${challenge id}` -> {challenge, account, el, state}
let cardSerial = 0;
let installPrompt = null; // the browser's install offer, shown once the phone is paired

// ---------------------------------------------------------------- page status

function setPageStatus(key) {
  const el = $('#page-status');
  el.textContent = key ? t(key) : '';
  show(el, Boolean(key));
}

// ---------------------------------------------------------------- accounts list

function renderAccounts() {
  const list = $('#account-list');
  list.replaceChildren();
  for (const a of accounts) {
    const li = $('#account-template').content.firstElementChild.cloneNode(true);
    translate(li);
    setWrappingText($('.account-name', li), t('accountLine', { user: a.user, host: a.host }));
    $('.account-device', li).textContent = a.device_name ? t('accountDevice', { name: a.device_name }) : '';
    const problem = accountProblems.get(a.device_id);
    $('.account-problem', li).textContent = problem ? t(problem) : '';
    const remove = $('.remove', li);
    remove.setAttribute('aria-label', `${t('removeAccount')}: ${t('accountLine', { user: a.user, host: a.host })}`);
    remove.addEventListener('click', async () => {
      if (remove.dataset.armed !== 'yes') {
        remove.dataset.armed = 'yes';
        remove.textContent = t('removeConfirm');
        return;
      }
      await db.remove(a.device_id);
      await loadAccounts();
      $('#accounts-title').focus();
    });
    list.append(li);
  }
  show($('#no-accounts'), accounts.length === 0);
  updateNotificationControls();
}

async function loadAccounts() {
  accounts = await db.all();
  accounts.sort((x, y) => (x.paired_at || 0) - (y.paired_at || 0));
  renderAccounts();
  // Cards of accounts that are gone go too.
  for (const [key, card] of cards) {
    if (!accounts.some((a) => a.device_id === card.account.device_id)) removeCard(key);
  }
}

// ---------------------------------------------------------------- translation of static markup

function translate(root) {
  for (const el of root.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
}

// ---------------------------------------------------------------- pending requests

const POLL_MS = 2000;
const POLL_RETRY_MS = 5000;
let pollTimer = null;
let polling = false;
let pollAgain = false;

function schedulePoll(ms) {
  clearTimeout(pollTimer);
  pollTimer = null;
  if (document.visibilityState === 'visible' && accounts.length > 0) pollTimer = setTimeout(pollNow, ms);
}

async function pollNow() {
  if (polling) {
    pollAgain = true;
    return;
  }
  polling = true;
  let ok = true;
  try {
    const seen = new Set();
    await Promise.all(accounts.map(async (account) => {
      const path = `/v1/devices/${encodeURIComponent(account.device_id)}/pending`;
      let res;
      try {
        res = await deviceRequest(account, 'GET', path);
      } catch {
        ok = false;
        for (const key of cards.keys()) if (key.startsWith(`${account.device_id} `)) seen.add(key);
        return;
      }
      // The service answers every refused device request alike (401): unknown, removed, or a
      // timestamp outside its window.
      setAccountProblem(account, res.status === 401 || res.status === 403 || res.status === 404 || res.status === 410
        ? 'refused' : null);
      if (!res.ok) {
        for (const key of cards.keys()) if (key.startsWith(`${account.device_id} `)) seen.add(key);
        return;
      }
      let list = [];
      try {
        list = await res.json();
      } catch {
        list = [];
      }
      for (const raw of Array.isArray(list) ? list : []) {
        let challenge;
        try {
          challenge = proto.checkChallenge(raw);
        } catch {
          continue; // malformed: never shown, never signed
        }
        // Shown: the name the service bound to the posting host's token, not what it wrote.
        const registered = raw && raw.registered_host;
        challenge.shownHost = typeof registered === 'string' && registered !== '' ? registered : challenge.host;
        const key = `${account.device_id} ${challenge.id}`;
        seen.add(key);
        if (!cards.has(key)) addCard(key, account, challenge);
      }
    }));
    // Requests the service no longer lists were answered elsewhere or expired; cards that show
    // this phone's own answer stay a while.
    for (const [key, card] of cards) {
      if (!seen.has(key) && card.state === 'open') removeCard(key);
    }
    setPageStatus(ok ? null : 'offline');
  } finally {
    polling = false;
    updateEmpty();
    if (pollAgain) {
      pollAgain = false;
      schedulePoll(0);
    } else {
      schedulePoll(ok ? POLL_MS : POLL_RETRY_MS);
    }
  }
}

function setAccountProblem(account, key) {
  const before = accountProblems.get(account.device_id) || null;
  if (key) accountProblems.set(account.device_id, key);
  else accountProblems.delete(account.device_id);
  if (before !== key) renderAccounts();
}

function updateEmpty() {
  // A phone that is not paired sees that first: there can be no requests yet.
  show($('#requests'), accounts.length > 0);
  show($('#no-requests'), cards.size === 0);
}

const dateTimeFormat = new Intl.DateTimeFormat(LANG, { dateStyle: 'medium', timeStyle: 'short' });
const relativeFormat = new Intl.RelativeTimeFormat(LANG, { numeric: 'auto' });

/** "just now · 1 Dec 2026, 10:12", "2 minutes ago · …": relative, with the date. */
function formatTime(unix) {
  const ago = Math.max(0, serverNow() - unix);
  let relative;
  if (ago < 60) relative = t('justNow');
  else if (ago < 3600) relative = relativeFormat.format(-Math.floor(ago / 60), 'minute');
  else if (ago < 86400) relative = relativeFormat.format(-Math.floor(ago / 3600), 'hour');
  else relative = relativeFormat.format(-Math.floor(ago / 86400), 'day');
  const date = dateTimeFormat.format(new Date((unix - clockOffset) * 1000)); // the service's time on this phone's clock
  return t('timeWithDate', { relative, date });
}

/** The service name in words for a person (the raw name stays visible in small print). */
const SERVICE_WORDS = {
  sshd: 'serviceSshd', sudo: 'serviceSudo', 'sudo-i': 'serviceSudo', su: 'serviceSu', 'su-l': 'serviceSu',
  login: 'serviceLogin', 'gdm-password': 'serviceDesktop', lightdm: 'serviceDesktop', sddm: 'serviceDesktop',
  'polkit-1': 'servicePolkit', cockpit: 'serviceCockpit', 'twofold-enroll': 'serviceTest',
};
const TEST_SERVICE = 'twofold-enroll';
function serviceWords(service) {
  return Object.hasOwn(SERVICE_WORDS, service) ? t(SERVICE_WORDS[service]) : service;
}

/**
 * Text in which host names (words with dots) wrap only after their dots, never inside a part
 * ("build-01." "example." "org"); a part too long for any screen may still break.
 */
function setWrappingText(el, text) {
  el.replaceChildren();
  for (const token of String(text).split(/(\s+)/)) {
    if (!/[^.\s]\.[^.\s]/.test(token)) {
      el.append(token);
      continue;
    }
    const parts = token.split('.');
    parts.forEach((part, i) => {
      const piece = i < parts.length - 1 ? `${part}.` : part;
      if (piece.length > 0 && piece.length <= 24) {
        const span = document.createElement('span');
        span.className = 'nowrap';
        span.textContent = piece;
        el.append(span);
      } else {
        el.append(piece);
      }
      if (i < parts.length - 1) el.append(document.createElement('wbr'));
    });
  }
}

function formatCountdown(seconds) {
  const s = Math.max(0, seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function addCard(key, account, challenge) {
  const serial = ++cardSerial;
  const el = $('#request-template').content.firstElementChild.cloneNode(true);
  translate(el);
  el.dataset.challenge = challenge.id;
  const title = $('.request-title', el);
  title.id = `request-${serial}-title`;
  $('article', el).setAttribute('aria-labelledby', title.id);
  const isTest = challenge.service === TEST_SERVICE;
  if (isTest) {
    title.textContent = t('testTitle');
    $('.request-intro', el).textContent = t('testIntro');
    show($('.request-intro', el), true);
    $('.rhost-row', el).hidden = true; // a test comes from the computer being set up: no "from"
    $('.number-hint', el).textContent = t('testHint');
  }
  $('.f-user', el).textContent = challenge.user;
  setWrappingText($('.f-host', el), challenge.shownHost || challenge.host);
  $('.f-service', el).textContent = serviceWords(challenge.service);
  const raw = $('.f-service-raw', el);
  raw.textContent = serviceWords(challenge.service) === challenge.service ? '' : t('serviceRaw', { service: challenge.service });
  if (challenge.rhost) {
    setWrappingText($('.f-rhost', el), challenge.rhost);
    $('.f-rhost-note', el).textContent = t('rhostNote');
  } else {
    $('.f-rhost', el).textContent = t('rhostLocal');
  }
  $('.f-time', el).textContent = formatTime(challenge.created);
  const input = $('.number', el);
  input.id = `request-${serial}-number`;
  $('.number-label', el).htmlFor = input.id;
  const hint = $('.number-hint', el);
  hint.id = `request-${serial}-hint`;
  const error = $('.number-error', el);
  error.id = `request-${serial}-error`;
  input.setAttribute('aria-describedby', `${hint.id} ${error.id}`);

  const card = { key, account, challenge, el, state: 'open', isTest };
  cards.set(key, card);

  input.addEventListener('input', () => {
    // Digits only (a phone keyboard may still offer others); full-width digits become ASCII.
    const digits = input.value.replace(/[０-９]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0)).replace(/\D/g, '').slice(0, 2);
    if (digits !== input.value) input.value = digits;
    if (digits.length === 2) setNumberError(card, false);
  });
  $('form', el).addEventListener('submit', (ev) => {
    ev.preventDefault();
    decide(card, 'approve');
  });
  $('.deny', el).addEventListener('click', () => decide(card, 'deny'));
  $('.report', el).addEventListener('click', () => decide(card, 'report'));

  $('#request-list').prepend(el); // open requests first, the newest on top: the one the user came for
  updateCountdown(card);
  updateEmpty();
  $('#announce').textContent = t('newRequest', { user: challenge.user, host: challenge.shownHost || challenge.host });
  // Opened for this request with nothing else in hand: the number field takes the focus, so
  // the keyboard is up and Enter approves.
  // (A heading or status that got the focus after an earlier step does not count as in hand.)
  const active = document.activeElement;
  if (!active || !active.matches('input, button, select, textarea, a[href], summary')) input.focus();
}

function setNumberError(card, on) {
  const input = $('.number', card.el);
  const error = $('.number-error', card.el);
  input.setAttribute('aria-invalid', on ? 'true' : 'false');
  error.textContent = on ? t('numberMissing') : '';
}

function removeCard(key) {
  const card = cards.get(key);
  if (!card) return;
  const hadFocus = card.el.contains(document.activeElement);
  card.el.remove();
  cards.delete(key);
  clearTimeout(card.removeTimer);
  if (hadFocus) $('#requests-title').focus();
  updateEmpty();
}

function setCardBusy(card, busy) {
  for (const b of card.el.querySelectorAll('button, input')) b.disabled = busy;
}

const TITLES = {
  sent: 'titleSent', approved: 'titleApproved', denied: 'titleDenied', reported: 'titleReported',
  number_mismatch: 'titleRefused', late: 'titleRefused', invalid: 'titleRefused', expired: 'titleExpired',
  answered: 'titleAnswered', unconfirmed: 'titleSent',
};

/**
 * An answered card: collapsed to its outcome (title, one summary line, the result), below the
 * open ones. `final`: nothing more will change (the host's verdict, or no verdict to wait for).
 */
function finishCard(card, state, text, { final = true } = {}) {
  card.state = state;
  const result = $('.result', card.el);
  // The outcome in bold, what follows from it in plain text.
  const [head, ...rest] = Array.isArray(text) ? text.filter(Boolean) : [text];
  const strong = document.createElement('strong');
  strong.textContent = head;
  result.replaceChildren(strong);
  if (rest.length) {
    const detail = document.createElement('span');
    detail.className = 'result-detail';
    detail.textContent = rest.join(' ');
    result.append(' ', detail);
  }
  result.dataset.state = state;
  if (final) result.dataset.final = 'yes';
  card.el.dataset.state = state;
  const hadFocus = card.el.contains(document.activeElement);
  const titleKey = card.isTest && state === 'approved' ? 'titleTestApproved' : TITLES[state] || 'titleAnswered';
  $('.request-title', card.el).textContent = t(titleKey);
  const { challenge } = card;
  setWrappingText($('.summary', card.el), t('summary', {
    service: serviceWords(challenge.service), user: challenge.user, host: challenge.shownHost || challenge.host,
    time: formatTime(challenge.created),
  }));
  card.el.classList.add('answered');
  show($('form', card.el), false);
  $('.expires-row', card.el).hidden = true;
  // Answered cards go below the open ones (newest answered first).
  const list = $('#request-list');
  if (card.el.parentNode === list && !card.moved) {
    card.moved = true;
    const firstAnswered = [...list.children].find((li) => li !== card.el && li.classList.contains('answered'));
    if (firstAnswered) list.insertBefore(card.el, firstAnswered);
    else list.append(card.el);
  }
  if (hadFocus || card.focusResult) {
    card.focusResult = true;
    result.tabIndex = -1;
    result.focus();
  }
  closeNotifications(card.challenge.id);
  // The final answer stays readable for a minute, then the card goes.
  if (final) card.removeTimer = setTimeout(() => removeCard(card.key), 60000);
}

// ---------------------------------------------------------------- the host's verdict
// After a decision the host verifies it and posts what it made of it; the page shows that, not
// a guess. Asked once a second until it arrives or the challenge is VERDICT_GRACE_S past its
// expiry (docs/push-protocol.md, change 15). Display-only.

const VERDICT_POLL_MS = 1000;
const VERDICT_GRACE_S = 30;

function verdictText(card, v) {
  const paused = Number.isSafeInteger(v.paused_until) && v.paused_until > serverNow()
    ? ` ${t('pausedUntil', { time: dateTimeFormat.format(new Date((v.paused_until - clockOffset) * 1000)) })}` : '';
  // [the outcome, what follows from it ...]
  let text;
  switch (v.outcome) {
    case 'approved': return [card.isTest ? t('verdictTestApproved') : t('verdictApproved')];
    case 'denied': text = [t('verdictDenied'), paused.trim()]; break;
    case 'reported':
      text = [...splitFirst(t(v.alerted === true ? 'verdictReportedAlerted' : 'verdictReportedNotAlerted')),
        card.isTest ? '' : t('reportNextStep'), paused.trim()];
      break;
    case 'number_mismatch': text = splitFirst(t('verdictMismatch')); break;
    case 'late': text = splitFirst(t('verdictLate')); break;
    default: text = splitFirst(t('verdictInvalid'));
  }
  return card.isTest ? [...text, t('testUndone')] : text;
}

/** "Refused — the number did not match. Nobody …" → ["Refused — the number did not match.", "Nobody …"]. */
function splitFirst(text) {
  const at = text.indexOf('. ');
  return at < 0 ? [text] : [text.slice(0, at + 1), text.slice(at + 2)];
}

const OUTCOMES = ['approved', 'denied', 'reported', 'number_mismatch', 'late', 'invalid'];

async function awaitVerdict(card) {
  const { account, challenge } = card;
  const path = `/v1/devices/${encodeURIComponent(account.device_id)}/challenges/${encodeURIComponent(challenge.id)}/verdict`;
  while (cards.get(card.key) === card && serverNow() <= challenge.expires + VERDICT_GRACE_S) {
    let res = null;
    try {
      res = await deviceRequest(account, 'GET', path);
    } catch {
      res = null; // no connection: ask again
    }
    if (res && res.status === 200) {
      let v = null;
      try {
        v = await res.json();
      } catch {
        v = null;
      }
      if (v && OUTCOMES.includes(v.outcome)) {
        finishCard(card, v.outcome, verdictText(card, v));
        return;
      }
    } else if (res && res.status !== 204 && res.status !== 429 && res.status < 500) {
      break; // 404: gone, or a service without verdicts; 401: refused. Nothing more to learn.
    }
    await new Promise((resolve) => setTimeout(resolve, VERDICT_POLL_MS));
  }
  if (cards.get(card.key) === card) finishCard(card, 'unconfirmed', t('noVerdict'));
}

function updateCountdown(card) {
  if (card.state !== 'open' && card.state !== 'sending') return;
  const left = card.challenge.expires - serverNow();
  $('.f-expires', card.el).textContent = formatCountdown(left);
  if (left <= 0 && card.state === 'open') finishCard(card, 'expired', t('expired'));
}

setInterval(() => {
  for (const card of cards.values()) {
    updateCountdown(card);
    const time = $('.f-time', card.el);
    const text = formatTime(card.challenge.created);
    if (time.textContent !== text) time.textContent = text;
  }
}, 1000);

async function decide(card, decision) {
  if (card.state !== 'open') return;
  const input = $('.number', card.el);
  const number = decision === 'approve' ? input.value.trim() : '';
  if (decision === 'approve' && !/^[0-9]{2}$/.test(number)) {
    setNumberError(card, true);
    input.focus();
    return;
  }
  setNumberError(card, false);
  const { challenge, account } = card;
  const decidedAt = Math.max(challenge.created, serverNow());
  if (decidedAt >= challenge.expires) {
    finishCard(card, 'expired', t('expired'));
    return;
  }
  card.state = 'sending';
  setCardBusy(card, true);
  const result = $('.result', card.el);
  result.textContent = t('sending');
  try {
    const body = await proto.decisionBody(account.keys.privateKey, challenge, decision, number, account.device_id, decidedAt);
    const res = await request('POST', `/v1/challenges/${encodeURIComponent(challenge.id)}/decision`, { body });
    if (res.status === 202 || res.status === 200 || res.status === 204) {
      // Accepted by the service; only the host knows whether it signs in.
      finishCard(card, 'sent', t('sent'), { final: false });
      awaitVerdict(card);
    } else if (res.status === 409) {
      finishCard(card, 'answered', t('alreadyAnswered'));
    } else if (res.status === 404 || res.status === 410) {
      finishCard(card, 'expired', t('expired'));
    } else {
      throw new HttpError(res.status);
    }
  } catch (err) {
    card.state = 'open';
    setCardBusy(card, false);
    result.textContent = t('sendFailed', { detail: failureDetail(err) });
    updateCountdown(card);
  }
}

// ---------------------------------------------------------------- notifications (Web Push)

const pushSupported = 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
let swRegistration = null;

function isIos() {
  return /iPad|iPhone|iPod/.test(navigator.userAgent) || (navigator.platform === 'MacIntel' && navigator.maxTouchPoints > 1);
}
function isStandalone() {
  return navigator.standalone === true || window.matchMedia('(display-mode: standalone)').matches;
}

async function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  try {
    swRegistration = await navigator.serviceWorker.register('sw.js', { scope: './' });
    const ready = await navigator.serviceWorker.ready;
    // The worker shows notifications in the page's language; it has no texts of its own.
    ready.active?.postMessage({ type: 'texts', lang: LANG, title: t('notifyTitle'), body: t('notifyBody') });
  } catch {
    swRegistration = null; // the page works without it (no notifications, no offline shell)
  }
}

async function vapidKey() {
  const res = await request('GET', '/v1/push-key');
  if (!res.ok) throw new HttpError(res.status);
  const { vapid_public_key: key } = await res.json();
  return proto.b64uDecode(key);
}

/** The Web Push subscription as JSON (endpoint, keys), or null when it cannot be had. */
async function pushSubscription() {
  if (!pushSupported || Notification.permission !== 'granted') return null;
  try {
    const reg = swRegistration || (await navigator.serviceWorker.ready);
    let sub = await reg.pushManager.getSubscription();
    if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: await vapidKey() });
    return sub.toJSON();
  } catch {
    return null;
  }
}

async function sendSubscription(account, subscription) {
  const res = await deviceRequest(account, 'PUT', `/v1/devices/${encodeURIComponent(account.device_id)}/subscription`,
    { push_subscription: subscription });
  if (!res.ok) throw new HttpError(res.status);
  account.push_endpoint = subscription.endpoint;
  await db.put(account);
}

/** Tells the service about a new or changed subscription, for every account that needs it. */
async function syncSubscriptions(subscription) {
  if (!subscription) return;
  for (const a of accounts) {
    if (a.push_endpoint === subscription.endpoint) continue;
    try {
      await sendSubscription(a, subscription);
    } catch {
      // tried again on the next start
    }
  }
}

function updateNotificationControls() {
  const button = $('#enable-notifications');
  const status = $('#notify-status');
  if (!pushSupported || accounts.length === 0) {
    show(button, false);
    status.textContent = '';
  } else if (Notification.permission === 'denied') {
    show(button, false);
    status.textContent = t('notificationsBlocked');
  } else if (Notification.permission === 'granted' && accounts.every((a) => a.push_endpoint)) {
    show(button, false);
    status.textContent = t('notificationsOn');
  } else {
    show(button, true);
  }
  show($('#ios-hint'), isIos() && !isStandalone() && accounts.length > 0);
  // Installing is offered once paired (elsewhere; on iOS the hint says to install first).
  show($('#install'), Boolean(installPrompt) && accounts.length > 0);
}

async function enableNotifications() {
  const status = $('#notify-status');
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') {
    updateNotificationControls();
    return;
  }
  const sub = await withTimeout(pushSubscription(), 10000);
  if (!sub) {
    status.textContent = t('notificationsFailed');
    return;
  }
  await syncSubscriptions(sub);
  updateNotificationControls();
}

async function closeNotifications(challengeId) {
  try {
    const reg = swRegistration || (await withTimeout(navigator.serviceWorker?.ready, 1000));
    for (const n of (await reg?.getNotifications({ tag: `twofold-${challengeId}` })) || []) n.close();
  } catch {
    // nothing to close
  }
}

// ---------------------------------------------------------------- pairing

function defaultDeviceName() {
  const uad = navigator.userAgentData;
  const ua = navigator.userAgent;
  let platform = uad?.platform || '';
  if (!platform) {
    platform = /iPhone/.test(ua) ? 'iPhone' : /iPad/.test(ua) ? 'iPad' : /Android/.test(ua) ? 'Android'
      : /Windows/.test(ua) ? 'Windows' : /Mac OS X/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : '';
  }
  let browser = '';
  const brand = uad?.brands?.find((b) => !/Not.?A.?Brand|Chromium/i.test(b.brand));
  if (brand) browser = brand.brand.replace(/^Google /, '');
  else if (/Firefox\//.test(ua)) browser = 'Firefox';
  else if (/Edg\//.test(ua)) browser = 'Edge';
  else if (/Chrome\//.test(ua)) browser = 'Chrome';
  else if (/Safari\//.test(ua)) browser = 'Safari';
  else if (uad?.brands?.length) browser = 'Chromium';
  return [browser, platform].filter(Boolean).join(' · ') || 'phone';
}

/** One line, no control characters, at most 64 bytes of UTF-8 (what the service accepts). */
function cleanDeviceName(text) {
  let name = String(text).replace(/[\p{Cc}\s]+/gu, ' ').trim();
  while (new TextEncoder().encode(name).length > 64) name = Array.from(name).slice(0, -1).join('').trimEnd();
  return name;
}

let pairing = null; // {pairingId, secret, user, host} while a pairing is shown

function showPairing(p) {
  pairing = p;
  setWrappingText($('#pair-account'), t('pairAccount', { user: p.user, host: p.host }));
  const name = $('#device-name');
  if (!name.value) name.value = defaultDeviceName();
  show($('#notify-row'), pushSupported && Notification.permission !== 'denied');
  // iOS: an app added to the Home Screen may not share what Safari stored (the key).
  show($('#ios-install-first'), isIos() && !isStandalone());
  show($('#pair-form'), true);
  $('#pair-status').textContent = '';
  show($('#pair'), true);
  $('#pair-button').focus();
}

function showPairError(key, vars) {
  show($('#pair'), true);
  $('#pair-title').textContent = t('pairTitle');
  $('#pair-status').textContent = t(key, vars);
  $('#pair-status').dataset.state = 'error';
}

async function completePairing(ev) {
  ev.preventDefault();
  if (!pairing) return;
  const button = $('#pair-button');
  const status = $('#pair-status');
  button.disabled = true;
  status.dataset.state = '';
  status.textContent = t('pairing');
  try {
    // Permission first: browsers only ask during the tap.
    let wantPush = false;
    if (pushSupported && $('#notify').checked && Notification.permission !== 'denied') {
      wantPush = (await Notification.requestPermission()) === 'granted';
    }
    const subscriptionPromise = wantPush ? pushSubscription() : Promise.resolve(null);

    const keys = await proto.generateDeviceKey();
    const publicKey = await proto.exportPublicKey(keys.publicKey);
    const proof = await proto.pairingProof(pairing.secret, pairing.pairingId, publicKey);
    const deviceName = cleanDeviceName($('#device-name').value) || cleanDeviceName(defaultDeviceName());
    // A subscription is welcome in the same request but must not hold pairing up.
    const subscription = await withTimeout(subscriptionPromise, 4000);

    const body = { public_key: publicKey, proof, device_name: deviceName };
    if (subscription) body.push_subscription = subscription;
    // The MAC over the exact body shows the service this phone holds the pairing secret.
    const rawBody = JSON.stringify(body);
    const mac = await proto.pairingCompletionMac(pairing.secret, pairing.pairingId, rawBody);
    const res = await request('POST', `/v1/pairings/${encodeURIComponent(pairing.pairingId)}/complete`,
      { rawBody, headers: { 'X-Twofold-Pairing-Mac': mac } });
    if (res.status === 409) {
      showPairError('pairUsed');
      return;
    }
    if (res.status === 404 || res.status === 410) {
      showPairError('pairExpired');
      return;
    }
    if (!res.ok) throw new HttpError(res.status);
    const { device_id: deviceId, host: registeredHost } = await res.json();
    if (typeof deviceId !== 'string' || deviceId === '' || deviceId.includes('\n')) throw new HttpError(res.status);
    // The host's name as the service knows it (bound to its token) wins over the link's.
    if (typeof registeredHost === 'string' && registeredHost !== '' && !/[\n\r]/.test(registeredHost)) {
      pairing.host = registeredHost;
    }

    const account = {
      device_id: deviceId,
      user: pairing.user,
      host: pairing.host,
      device_name: deviceName,
      public_key: publicKey,
      keys,
      paired_at: Date.now(),
      push_endpoint: subscription ? subscription.endpoint : null,
    };
    await db.put(account);
    const { user, host } = pairing;
    pairing = null;
    show($('#pair-form'), false);
    show($('#ios-install-first'), false);
    // The request that needs the tap next (the test notification) comes first, this card after.
    $('#requests').after($('#pair'));
    $('#pair-title').textContent = t('paired');
    status.dataset.state = 'paired';
    setWrappingText(status, t('pairedDetail', { user, host }));
    $('#pair-title').tabIndex = -1;
    $('#pair-title').focus();
    await loadAccounts();
    schedulePoll(0);
    // A subscription that came too late for the pairing request is sent on its own.
    if (wantPush && !subscription) subscriptionPromise.then((s) => syncSubscriptions(s)).then(updateNotificationControls);
  } catch (err) {
    showPairError('pairFailed', { detail: failureDetail(err) });
  } finally {
    button.disabled = false;
  }
}

/**
 * Reads the pairing link from the address bar and removes it at once (the secret must not
 * stay in the history, a bookmark or a screenshot of the address bar).
 */
function takePairingFromAddress() {
  const isPairPath = /\/pair\/?$/.test(location.pathname);
  if (!isPairPath && !/[#&]k=/.test(location.hash)) return undefined;
  const found = proto.parsePairingFragment(location.hash);
  history.replaceState(null, '', BASE.pathname);
  return found; // null: a pairing link, but a broken one
}

function usePastedLink(ev) {
  ev.preventDefault();
  const input = $('#paste-link');
  const error = $('#paste-error');
  let url;
  try {
    url = new URL(input.value.trim());
  } catch {
    url = null;
  }
  const found = url && proto.parsePairingFragment(url.hash);
  if (!found) {
    error.textContent = t('pairBadLink');
    input.setAttribute('aria-invalid', 'true');
    return;
  }
  if (url.origin !== location.origin) {
    error.textContent = t('pairOtherService');
    input.setAttribute('aria-invalid', 'true');
    return;
  }
  input.value = '';
  error.textContent = '';
  input.removeAttribute('aria-invalid');
  $('#paste-pairing').open = false;
  showPairing(found);
}

// ---------------------------------------------------------------- start

async function main() {
  document.documentElement.lang = LANG;
  translate(document);
  document.title = 'twofold';

  if (!window.isSecureContext || !globalThis.crypto?.subtle) {
    setPageStatus('insecure');
    return;
  }
  if (!('indexedDB' in window)) {
    setPageStatus('unsupported');
    return;
  }

  $('#pair-form').addEventListener('submit', completePairing);
  $('#paste-form').addEventListener('submit', usePastedLink);
  $('#enable-notifications').addEventListener('click', enableNotifications);
  window.addEventListener('beforeinstallprompt', (ev) => {
    ev.preventDefault();
    installPrompt = ev;
    updateNotificationControls();
  });
  $('#install').addEventListener('click', async () => {
    show($('#install'), false);
    await installPrompt?.prompt();
    installPrompt = null;
  });

  const fromAddress = takePairingFromAddress();
  if (fromAddress === null) showPairError('pairBadLink');

  try {
    await loadAccounts();
  } catch {
    setPageStatus('unsupported');
    return;
  }
  if (fromAddress) showPairing(fromAddress);
  updateEmpty();

  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') pollNow();
    else schedulePoll(0); // stops the timer while hidden
  });
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.addEventListener('message', (ev) => {
      if (ev.data && ev.data.type === 'challenge') pollNow();
    });
  }
  document.documentElement.dataset.ready = 'yes';
  pollNow();

  await registerServiceWorker();
  if (pushSupported && Notification.permission === 'granted') {
    syncSubscriptions(await withTimeout(pushSubscription(), 10000)).then(updateNotificationControls);
  }
}

main();
