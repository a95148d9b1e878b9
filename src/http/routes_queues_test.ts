import assert from "node:assert/strict";
import { call, localApp } from "./testing/call.ts";

async function withQueue(options: Record<string, unknown> = {}) {
  const t = localApp();
  const created = await call(t.app, "PUT", "/v1/queues/orders", options);
  assert.equal(created.status, 201);
  return t;
}

Deno.test("PUT /v1/queues/{q} answers 201 on create and 200 on update, with the config", async () => {
  const { app } = localApp();
  const a = await call(app, "PUT", "/v1/queues/jobs", { leaseMs: 5000, maxDeliveries: 3 });
  assert.equal(a.status, 201);
  assert.equal(a.body.name, "jobs");
  assert.equal(a.body.leaseMs, 5000);
  assert.equal(a.body.maxDeliveries, 3);
  const b = await call(app, "PUT", "/v1/queues/jobs", { leaseMs: 7000 });
  assert.equal(b.status, 200);
  assert.equal(b.body.leaseMs, 7000);
  const empty = await call(app, "PUT", "/v1/queues/other");
  assert.equal(empty.status, 201);
  assert.equal(empty.body.deliveryMode, "at_least_once");
});

Deno.test("GET /v1/queues lists queues with stats; GET /v1/queues/{q} answers one", async () => {
  const { app } = await withQueue();
  await call(app, "PUT", "/v1/queues/b");
  await call(app, "POST", "/v1/queues/orders/messages", { body: 1 });
  const list = await call(app, "GET", "/v1/queues");
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.queues.map((q: { name: string }) => q.name), ["b", "orders"]);
  const one = await call(app, "GET", "/v1/queues/orders?consistency=stale");
  assert.equal(one.status, 200);
  assert.equal(one.body.ready, 1);
  assert.equal(one.body.published, 1);
  for (const k of ["leased", "delayed", "acked", "deadLettered"]) assert.equal(one.body[k], 0);
  const missing = await call(app, "GET", "/v1/queues/nope");
  assert.equal(missing.status, 404);
  assert.equal(missing.body.type, "queue_not_found");
  assert.equal(missing.headers.get("content-type"), "application/problem+json");
});

Deno.test("DELETE /v1/queues/{q} answers 204, then the queue is gone", async () => {
  const { app } = await withQueue();
  const del = await call(app, "DELETE", "/v1/queues/orders");
  assert.equal(del.status, 204);
  assert.equal(del.body, undefined);
  assert.equal((await call(app, "GET", "/v1/queues/orders")).body.type, "queue_not_found");
  assert.equal((await call(app, "DELETE", "/v1/queues/orders")).body.type, "queue_not_found");
});

Deno.test("POST messages: 201 new, 200 duplicate id with the original seq, batch results", async () => {
  const { app } = await withQueue();
  const first = await call(app, "POST", "/v1/queues/orders/messages", { body: "x", id: "a" });
  assert.equal(first.status, 201);
  assert.deepEqual(first.body, { seq: first.body.seq, id: "a", duplicate: false });
  const dup = await call(app, "POST", "/v1/queues/orders/messages", { body: "y", id: "a" });
  assert.equal(dup.status, 200);
  assert.deepEqual(dup.body, { seq: first.body.seq, id: "a", duplicate: true });
  const batch = await call(app, "POST", "/v1/queues/orders/messages", {
    messages: [{ body: 1, id: "b" }, { body: 2, id: "a" }],
  });
  assert.equal(batch.status, 201);
  assert.equal(batch.body.results.length, 2);
  assert.equal(batch.body.results[0].duplicate, false);
  assert.equal(batch.body.results[1].duplicate, true);
});

Deno.test("receive returns any JSON body unchanged, spliced from the stored text", async () => {
  const { app } = await withQueue();
  const bodies = [{ nested: { a: [1, "two", null] } }, "text", 42, null, [true, 1.5], "é😀"];
  for (const body of bodies) await call(app, "POST", "/v1/queues/orders/messages", { body });
  const r = await call(app, "POST", "/v1/queues/orders/receive", { max: 10 });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.messages.map((m: { body: unknown }) => m.body), bodies);
  const m = r.body.messages[0];
  for (const k of ["seq", "id", "headers", "group", "attempt", "receipt", "leaseExpiresAt"]) {
    assert.ok(k in m, k);
  }
  assert.equal(m.attempt, 1);
});

Deno.test("ack, nack and extend answer per-receipt statuses", async () => {
  const { app } = await withQueue();
  for (let i = 0; i < 3; i++) {
    await call(app, "POST", "/v1/queues/orders/messages", { body: i, id: `m${i}` });
  }
  const got = await call(app, "POST", "/v1/queues/orders/receive", { max: 3, leaseMs: 60_000 });
  const [r1, r2, r3] = got.body.messages.map((m: { receipt: string }) => m.receipt);
  const ack = await call(app, "POST", "/v1/queues/orders/ack", { receipts: [r1] });
  assert.deepEqual(ack.body, { results: [{ receipt: r1, status: "acked" }] });
  const again = await call(app, "POST", "/v1/queues/orders/ack", { receipts: [r1] });
  assert.equal(again.body.results[0].status, "already_acked");
  const ext = await call(app, "POST", "/v1/queues/orders/extend", {
    receipts: [r2],
    leaseMs: 90_000,
  });
  assert.equal(ext.body.results[0].status, "extended");
  assert.equal(typeof ext.body.results[0].leaseExpiresAt, "number");
  const nack = await call(app, "POST", "/v1/queues/orders/nack", { receipts: [r3] });
  assert.equal(nack.body.results[0].status, "nacked");
  const redelivered = await call(app, "POST", "/v1/queues/orders/receive", { max: 5 });
  assert.equal(redelivered.body.messages.length, 1);
  assert.equal(redelivered.body.messages[0].attempt, 2);
  const stale = await call(app, "POST", "/v1/queues/orders/ack", { receipts: [r3] });
  assert.equal(stale.body.results[0].status, "stale");
});

Deno.test("GET message status by id, and message_not_found for an unknown id", async () => {
  const { app } = await withQueue();
  await call(app, "POST", "/v1/queues/orders/messages", { body: 1, id: "m-1" });
  const s = await call(app, "GET", "/v1/queues/orders/messages/m-1");
  assert.equal(s.status, 200);
  assert.deepEqual(s.body, { id: "m-1", seq: s.body.seq, state: "ready", attempt: 0 });
  const missing = await call(app, "GET", "/v1/queues/orders/messages/zzz");
  assert.equal(missing.status, 404);
  assert.equal(missing.body.type, "message_not_found");
  const noQueue = await call(app, "GET", "/v1/queues/none/messages/m-1");
  assert.equal(noQueue.body.type, "queue_not_found");
});

Deno.test("queue_full when maxMessages is reached, with Retry-After", async () => {
  const { app } = await withQueue({ maxMessages: 1 });
  assert.equal((await call(app, "POST", "/v1/queues/orders/messages", { body: 1 })).status, 201);
  const full = await call(app, "POST", "/v1/queues/orders/messages", { body: 2 });
  assert.equal(full.status, 429);
  assert.equal(full.body.type, "queue_full");
  assert.ok(full.headers.get("retry-after"));
});

Deno.test("exactly_once refuses a publish without an id as invalid_request", async () => {
  const { app } = await withQueue({ deliveryMode: "exactly_once" });
  const r = await call(app, "POST", "/v1/queues/orders/messages", { body: 1 });
  assert.equal(r.status, 400);
  assert.equal(r.body.type, "invalid_request");
});

Deno.test("publish to a missing queue is queue_not_found", async () => {
  const { app } = localApp();
  const r = await call(app, "POST", "/v1/queues/ghost/messages", { body: 1 });
  assert.equal(r.status, 404);
  assert.equal(r.body.type, "queue_not_found");
});
