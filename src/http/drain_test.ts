import assert from "node:assert/strict";
import { Drain, SHUTTING_DOWN } from "./drain.ts";
import { LongPollHub } from "./long_poll.ts";
import { call, localApp } from "./testing/call.ts";

/** Until `done()` or 200 rounds of 5 ms. */
async function until(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(done(), what);
}

Deno.test("LongPollHub.close() ends every wait with closing, and every later wait at once", async () => {
  const hub = new LongPollHub(() => () => {});
  const probe = { check: () => ({ deliverableNow: false, readyCount: 0 }) };
  const waits = [1, 2].map(() => hub.wait("k", probe, hub.arrival(), Date.now() + 60_000));
  assert.equal(hub.waiting, 2);
  hub.close();
  assert.deepEqual(await Promise.all(waits), ["closing", "closing"]);
  assert.equal(hub.waiting, 0);
  assert.equal(await hub.wait("k", probe, hub.arrival(), Date.now() + 60_000), "closing");
});

Deno.test("drain: a 30 s long poll is answered 503 unavailable with Retry-After when the node shuts down", async () => {
  const drain = new Drain();
  const { app, node } = localApp({}, { drain });
  await call(app, "PUT", "/v1/queues/q");
  const pending = call(app, "POST", "/v1/queues/q/receive", { waitMs: 30_000 });
  await until(() => node.listenerCount === 1, "the receive waits");
  drain.begin();
  const got = await pending;
  assert.equal(got.status, 503);
  assert.equal(got.body.type, "unavailable");
  assert.equal(got.body.detail, SHUTTING_DOWN);
  assert.equal(got.headers.get("retry-after"), "1");
  assert.equal(node.listenerCount, 0);
});

Deno.test("drain: a session long poll (waits before proposing) is answered 503 too", async () => {
  const drain = new Drain();
  const { app, node } = localApp({}, { drain });
  await call(app, "PUT", "/v1/queues/q");
  const pending = call(app, "POST", "/v1/queues/q/receive", { waitMs: 30_000 }, {
    "idempotency-key": "poll-1",
  });
  await until(() => node.listenerCount === 1, "the receive waits");
  const proposed = node.proposals.length;
  drain.begin();
  const got = await pending;
  assert.equal(got.status, 503);
  assert.equal(node.proposals.length, proposed, "nothing proposed after the drain began");
});

Deno.test("drain: new requests get 503 with Connection: close, /readyz too; /healthz stays 200", async () => {
  const drain = new Drain();
  const { app } = localApp({}, { drain });
  assert.equal((await call(app, "GET", "/readyz")).status, 200);
  drain.begin();
  const put = await call(app, "PUT", "/v1/queues/q");
  assert.equal(put.status, 503);
  assert.equal(put.headers.get("connection"), "close");
  assert.equal(put.headers.get("retry-after"), "1");
  assert.equal((await call(app, "GET", "/readyz")).status, 503);
  assert.equal((await call(app, "GET", "/healthz")).status, 200);
});
