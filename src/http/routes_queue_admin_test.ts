import assert from "node:assert/strict";
import { loadAuthenticator } from "./auth.ts";
import { call, localApp } from "./testing/call.ts";

/** `orders` dead-letters into `orders.dlq` after one delivery; `n` messages are dead there. */
async function withDead(n: number) {
  const t = localApp();
  await call(t.app, "PUT", "/v1/queues/orders.dlq", {});
  await call(t.app, "PUT", "/v1/queues/orders", {
    maxDeliveries: 1,
    deadLetterQueue: "orders.dlq",
  });
  for (let i = 0; i < n; i++) {
    await call(t.app, "POST", "/v1/queues/orders/messages", { id: `m${i}`, body: { i } });
  }
  const got = await call(t.app, "POST", "/v1/queues/orders/receive", { max: n });
  const receipts = got.body.messages.map((m: { receipt: string }) => m.receipt);
  await call(t.app, "POST", "/v1/queues/orders/nack", { receipts });
  return t;
}

Deno.test("GET peek shows messages with state and body, and pages by nextSeq", async () => {
  const { app } = await withDead(3);
  const page = await call(app, "GET", "/v1/queues/orders.dlq/peek?limit=2");
  assert.equal(page.status, 200);
  assert.deepEqual(page.body.messages.map((m: { id: string }) => m.id), ["m0", "m1"]);
  const [m0] = page.body.messages;
  assert.deepEqual(m0.body, { i: 0 });
  assert.equal(m0.state, "ready");
  assert.equal(m0.headers["x-quorumq-origin"], "orders");
  const rest = await call(app, "GET", `/v1/queues/orders.dlq/peek?fromSeq=${page.body.nextSeq}`);
  assert.deepEqual(rest.body.messages.map((m: { id: string }) => m.id), ["m2"]);
  const stats = await call(app, "GET", "/v1/queues/orders.dlq");
  assert.equal(stats.body.leased, 0, "peek leased nothing");
  const missing = await call(app, "GET", "/v1/queues/nope/peek");
  assert.equal(missing.body.type, "queue_not_found");
  assert.equal((await call(app, "GET", "/v1/queues/orders/peek?limit=0")).status, 400);
});

Deno.test("POST redrive moves chosen or all dead messages back, then they can be received", async () => {
  const { app } = await withDead(3);
  const one = await call(app, "POST", "/v1/queues/orders.dlq/redrive", { seqs: [1, 77] });
  assert.equal(one.status, 200);
  assert.deepEqual(one.body, {
    redriven: 1,
    skipped: [{ seq: 77, reason: "not_found" }],
    remaining: 2,
  });
  const all = await call(app, "POST", "/v1/queues/orders.dlq/redrive");
  assert.deepEqual(all.body, { redriven: 2, skipped: [], remaining: 0 });
  const got = await call(app, "POST", "/v1/queues/orders/receive", { max: 10 });
  assert.deepEqual(got.body.messages.map((m: { id: string }) => m.id), ["m0", "m1", "m2"]);
  const bad = await call(app, "POST", "/v1/queues/orders.dlq/redrive", { seqs: [] });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.type, "invalid_request");
});

Deno.test("POST purge empties a queue and answers how many went", async () => {
  const { app } = await withDead(2);
  const r = await call(app, "POST", "/v1/queues/orders.dlq/purge", {});
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { purged: 2 });
  assert.equal((await call(app, "GET", "/v1/queues/orders.dlq")).body.ready, 0);
  assert.equal((await call(app, "POST", "/v1/queues/nope/purge")).body.type, "queue_not_found");
});

Deno.test("auth on: purge and redrive need admin, peek needs consume", async () => {
  const auth = await loadAuthenticator(JSON.stringify({
    tokens: [
      { name: "c", token: "consumer-tok", consume: ["*"] },
      { name: "a", token: "admin-token", admin: ["*"] },
    ],
  }));
  const { app } = localApp({}, { auth });
  const admin = { authorization: "Bearer admin-token" };
  const consumer = { authorization: "Bearer consumer-tok" };
  await call(app, "PUT", "/v1/queues/q", {}, admin);
  assert.equal((await call(app, "GET", "/v1/queues/q/peek", undefined, consumer)).status, 200);
  assert.equal((await call(app, "POST", "/v1/queues/q/purge", {}, consumer)).status, 403);
  assert.equal((await call(app, "POST", "/v1/queues/q/redrive", {}, consumer)).status, 403);
  assert.equal((await call(app, "POST", "/v1/queues/q/purge", {}, admin)).status, 200);
});
