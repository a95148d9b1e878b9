/** The stale-read cache on its own, on a hand-driven clock: which requests it keys, expiry, bounds. */
import assert from "node:assert/strict";
import { CACHE_HEADER, StaleCache } from "./mod.ts";

const answer = (body: string, status = 200) =>
  new Response(body, { status, headers: { "content-type": "application/json", "x-other": "1" } });

Deno.test("stale cache: only GETs asking consistency=stale, while on, without no-cache", () => {
  const cache = new StaleCache({ ttlMs: 1000 });
  const h = { authorization: "Bearer a" };
  assert.notEqual(cache.key("GET", "/v1/queues/q?consistency=stale", h, () => null), undefined);
  assert.equal(cache.key("GET", "/v1/queues/q", h, () => null), undefined);
  assert.equal(cache.key("GET", "/v1/queues/q?consistency=linearizable", h, () => null), undefined);
  assert.equal(cache.key("GET", "/v1/queues/q?xconsistency=stale", h, () => null), undefined);
  assert.notEqual(cache.key("GET", "/v1/queues/q?a=1&consistency=stale", h, () => null), undefined);
  assert.equal(cache.key("POST", "/v1/queues/q?consistency=stale", h, () => null), undefined);
  for (const cc of ["no-cache", "max-age=0, no-store", "No-Cache"]) {
    assert.equal(cache.key("GET", "/v1/queues/q?consistency=stale", h, () => cc), undefined);
  }
  const off = new StaleCache({ ttlMs: 0 });
  assert.equal(off.key("GET", "/v1/queues/q?consistency=stale", h, () => null), undefined);
  // One caller's key is never another's, nor an anonymous caller's.
  const k = (headers: Record<string, string>) =>
    cache.key("GET", "/v1/queues/q?consistency=stale", headers, () => null);
  assert.notEqual(k({ authorization: "Bearer a" }), k({ authorization: "Bearer b" }));
  assert.notEqual(k({ authorization: "Bearer a" }), k({}));
  assert.notEqual(
    cache.key("GET", "/v1/queues/q?consistency=stale", h, () => null),
    cache.key("GET", "/v1/queues/r?consistency=stale", h, () => null),
  );
});

Deno.test("stale cache: a 200 is served with its age until the TTL, then asked again", async () => {
  let now = 10_000;
  const cache = new StaleCache({ ttlMs: 500, now: () => now });
  const key = "k";
  assert.equal(cache.lookup(key), undefined);
  const first = await cache.store(key, answer('{"ready":1}'));
  assert.equal(first.headers.get(CACHE_HEADER), "miss");
  assert.equal(first.headers.get("content-type"), "application/json");
  assert.equal(
    first.headers.get("x-other"),
    null,
    "only the answer headers the node's frames carry",
  );
  assert.equal(await first.text(), '{"ready":1}');
  now += 499;
  const hit = cache.lookup(key)!;
  assert.equal(hit.status, 200);
  assert.equal(hit.headers.get(CACHE_HEADER), "hit; age-ms=499");
  assert.equal(hit.headers.get("age"), "0");
  assert.equal(hit.headers.get("content-type"), "application/json");
  assert.equal(await hit.text(), '{"ready":1}');
  now += 1;
  assert.equal(cache.lookup(key), undefined, "expired at the TTL");
  assert.equal(cache.size, 0);
  // A clock that went back serves nothing it cannot date.
  await (await cache.store(key, answer("{}"))).body?.cancel();
  now -= 5;
  assert.equal(cache.lookup(key), undefined);
});

Deno.test("stale cache: errors and big bodies pass through unkept; entries are bounded", async () => {
  const now = 0;
  const cache = new StaleCache({ ttlMs: 1000, maxEntries: 3, maxBodyBytes: 10, now: () => now });
  const refused = await cache.store("a", answer('{"type":"forbidden"}', 403));
  assert.equal(refused.status, 403);
  assert.equal(refused.headers.get(CACHE_HEADER), "miss");
  assert.equal(await refused.text(), '{"type":"forbidden"}');
  assert.equal(cache.lookup("a"), undefined);
  await (await cache.store("big", answer("x".repeat(11)))).body?.cancel();
  assert.equal(cache.lookup("big"), undefined);
  for (const k of ["k1", "k2", "k3", "k4"]) await (await cache.store(k, answer(k))).body?.cancel();
  assert.equal(cache.size, 3);
  assert.equal(cache.lookup("k1"), undefined, "the oldest went first");
  assert.equal(await cache.lookup("k4")!.text(), "k4");
});
