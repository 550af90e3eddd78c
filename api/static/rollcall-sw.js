// The roll call's service worker (scope /desk/): the roll-call page, its scripts and styles are answered
// from the network when there is one and from the browser's cache when there is not. The pages put what
// they need in the cache themselves (desk.js and rollcall.js: caches.open(CACHE).addAll(...)).
"use strict";
const CACHE = "kyso-rollcall-v1";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname !== "/desk/rollcall" && !url.pathname.startsWith("/static/")) return;
  event.respondWith(
    fetch(request).then(
      (response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(request, copy));
        }
        return response;
      },
      () => caches.match(request).then((found) => found || Response.error()),
    ),
  );
});
