// The service worker keeps the page itself for offline use. The signed lists are not cached
// here: the page keeps them in IndexedDB, verified, with their sequence numbers.
// Pages and files: the network first (4 s), then the cache; /v1/ requests are never touched.
const CACHE = "permit-verify-v1";
const SHELL = [
  "./", "style.css", "manifest.webmanifest", "icon.svg",
  "js/app.js", "js/store.js", "js/verifier.js", "js/codec.js", "js/i18n.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  const scope = new URL(self.registration.scope);
  if (request.method !== "GET" || url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  const key = request.mode === "navigate" ? new URL("./", self.registration.scope).href : request.url.split("#")[0].split("?")[0];
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 4000);
      const response = await fetch(request, { signal: controller.signal, cache: "no-cache" });
      clearTimeout(timer);
      if (response.ok) await cache.put(key, response.clone());
      return response;
    } catch (e) {
      const cached = await cache.match(key);
      if (cached) return cached;
      throw e;
    }
  })());
});
