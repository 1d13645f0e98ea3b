// twofold service worker: keeps the page's shell for offline starts, shows Web Push
// notifications ({"type":"challenge","id":...}: no secrets, no context) and brings the page
// forward when one is tapped. It never touches /v1/ (the API) and holds no texts of its own:
// the page sends its notification texts in its own language ({type:"texts"}).
'use strict';

const SHELL_CACHE = 'twofold-shell-v2';
const SETTINGS_CACHE = 'twofold-settings-v1';
const SETTINGS_URL = new URL('./__twofold-settings.json', self.registration.scope).href;
const SHELL = ['./', 'index.html', 'app.js', 'texts.json', 'protocol.js', 'style.css', 'manifest.webmanifest',
  'icon.svg', 'icon-192.png', 'icon-512.png', 'apple-touch-icon.png'];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL_CACHE);
    // One missing file must not stop the worker from installing.
    await Promise.all(SHELL.map((path) => cache.add(new Request(path, { cache: 'reload' })).catch(() => {})));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const keep = new Set([SHELL_CACHE, SETTINGS_CACHE]);
    for (const name of await caches.keys()) if (!keep.has(name)) await caches.delete(name);
    await self.clients.claim();
  })());
});

function isApi(url) {
  return url.pathname.includes('/v1/');
}

// Network first (a new version of the page is picked up at once), the cached shell when offline.
self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin || isApi(url)) return;
  event.respondWith((async () => {
    try {
      const res = await fetch(req);
      if (res.ok && res.type === 'basic') {
        const cache = await caches.open(SHELL_CACHE);
        const key = req.mode === 'navigate' ? './' : req;
        await cache.put(key, res.clone());
      }
      return res;
    } catch (err) {
      const cache = await caches.open(SHELL_CACHE);
      const hit = req.mode === 'navigate' ? await cache.match('./') : await cache.match(req, { ignoreSearch: true });
      if (hit) return hit;
      throw err;
    }
  })());
});

// The page's notification texts, kept across restarts of the worker.
self.addEventListener('message', (event) => {
  const data = event.data;
  if (!data || data.type !== 'texts') return;
  const settings = { lang: String(data.lang || ''), title: String(data.title || ''), body: String(data.body || '') };
  event.waitUntil(caches.open(SETTINGS_CACHE).then((cache) =>
    cache.put(SETTINGS_URL, new Response(JSON.stringify(settings), { headers: { 'Content-Type': 'application/json' } }))));
});

async function settings() {
  try {
    const hit = await (await caches.open(SETTINGS_CACHE)).match(SETTINGS_URL);
    if (hit) return await hit.json();
  } catch {
    // fall through
  }
  return { lang: '', title: 'twofold', body: '' };
}

async function windowClients() {
  return self.clients.matchAll({ type: 'window', includeUncontrolled: true });
}

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  event.waitUntil((async () => {
    const id = data && data.type === 'challenge' && typeof data.id === 'string' ? data.id : '';
    const clients = await windowClients();
    // Open pages fetch the request at once.
    for (const client of clients) client.postMessage({ type: 'challenge', id });
    // A page the user is looking at shows the request itself; otherwise a notification.
    const inFront = clients.some((c) => c.focused && c.visibilityState === 'visible');
    self.lastPush = { id, clients: clients.length, inFront, at: Date.now() }; // for diagnosis
    if (inFront) return;
    const s = await settings();
    const title = s.title || 'twofold';
    const tag = id ? `twofold-${id}` : 'twofold';
    Object.assign(self.lastPush, { title, body: s.body, tag });
    const shown = self.registration.showNotification(title, {
      body: s.body,
      lang: s.lang,
      tag,
      renotify: true,
      requireInteraction: true,
      icon: 'icon-192.png',
      badge: 'icon-192.png',
      data: { id },
    });
    await shown.then(() => { self.lastPush.shown = true; }, (e) => { self.lastPush.shown = String(e); throw e; });
  })());
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil((async () => {
    const scope = self.registration.scope;
    const clients = await windowClients();
    const client = clients.find((c) => c.url.startsWith(scope)) || clients[0];
    if (client) {
      client.postMessage({ type: 'challenge', id: (event.notification.data && event.notification.data.id) || '' });
      try {
        await client.focus();
        return;
      } catch {
        // focus can be refused; open a new window instead
      }
    }
    await self.clients.openWindow(scope);
  })());
});
