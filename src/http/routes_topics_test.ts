import assert from "node:assert/strict";
import { call, localApp } from "./testing/call.ts";

async function withTopic() {
  const t = localApp();
  const created = await call(t.app, "PUT", "/v1/topics/events", { maxMessages: 100 });
  assert.equal(created.status, 201);
  assert.equal(created.body.maxMessages, 100);
  return t;
}

Deno.test("topics: create, update, get, list, delete", async () => {
  const { app } = await withTopic();
  const updated = await call(app, "PUT", "/v1/topics/events", { maxMessages: 50 });
  assert.equal(updated.status, 200);
  const one = await call(app, "GET", "/v1/topics/events");
  assert.equal(one.status, 200);
  assert.equal(one.body.name, "events");
  assert.equal(one.body.maxMessages, 50);
  const list = await call(app, "GET", "/v1/topics?consistency=stale");
  assert.deepEqual(list.body.topics.map((t: { name: string }) => t.name), ["events"]);
  assert.equal((await call(app, "DELETE", "/v1/topics/events")).status, 204);
  const gone = await call(app, "GET", "/v1/topics/events");
  assert.equal(gone.status, 404);
  assert.equal(gone.body.type, "topic_not_found");
});

Deno.test("topics: every subscription gets every message published after its start", async () => {
  const { app } = await withTopic();
  await call(app, "POST", "/v1/topics/events/messages", { body: "before" });
  const s1 = await call(app, "PUT", "/v1/topics/events/subscriptions/a", { startAt: "earliest" });
  assert.equal(s1.status, 201);
  const s2 = await call(app, "PUT", "/v1/topics/events/subscriptions/b", {});
  assert.equal(s2.status, 201);
  const pub = await call(app, "POST", "/v1/topics/events/messages", {
    messages: [{ body: { n: 1 } }, { body: { n: 2 } }],
  });
  assert.equal(pub.status, 201);
  assert.equal(pub.body.results.length, 2);
  const a = await call(app, "POST", "/v1/topics/events/subscriptions/a/receive", { max: 10 });
  assert.deepEqual(a.body.messages.map((m: { body: unknown }) => m.body), [
    "before",
    { n: 1 },
    { n: 2 },
  ]);
  const b = await call(app, "POST", "/v1/topics/events/subscriptions/b/receive", { max: 10 });
  assert.deepEqual(b.body.messages.map((m: { body: unknown }) => m.body), [{ n: 1 }, { n: 2 }]);
  const receipts = b.body.messages.map((m: { receipt: string }) => m.receipt);
  const ack = await call(app, "POST", "/v1/topics/events/subscriptions/b/ack", {
    receipts: [receipts[0]],
  });
  assert.equal(ack.body.results[0].status, "acked");
  const ext = await call(app, "POST", "/v1/topics/events/subscriptions/b/extend", {
    receipts: [receipts[1]],
    leaseMs: 1000,
  });
  assert.equal(ext.body.results[0].status, "extended");
  const nack = await call(app, "POST", "/v1/topics/events/subscriptions/b/nack", {
    receipts: [receipts[1]],
    delayMs: 0,
  });
  assert.equal(nack.body.results[0].status, "nacked");
  const info = await call(app, "GET", "/v1/topics/events/subscriptions/b");
  assert.equal(info.status, 200);
  assert.equal(info.body.acked, 1);
  assert.equal(info.body.ready, 1);
  assert.equal((await call(app, "DELETE", "/v1/topics/events/subscriptions/b")).status, 204);
  const gone = await call(app, "GET", "/v1/topics/events/subscriptions/b");
  assert.equal(gone.body.type, "subscription_not_found");
  const noSub = await call(app, "POST", "/v1/topics/events/subscriptions/zz/receive", {});
  assert.equal(noSub.body.type, "subscription_not_found");
});

Deno.test("topics: the retained log reads by seq with limit and nextSeq", async () => {
  const { app } = await withTopic();
  for (let i = 0; i < 5; i++) {
    await call(app, "POST", "/v1/topics/events/messages", { body: i, id: `e${i}` });
  }
  const page = await call(app, "GET", "/v1/topics/events/messages?limit=2");
  assert.equal(page.status, 200);
  assert.deepEqual(page.body.messages.map((m: { body: number }) => m.body), [0, 1]);
  const next = await call(
    app,
    "GET",
    `/v1/topics/events/messages?fromSeq=${page.body.nextSeq}&limit=10`,
  );
  assert.deepEqual(next.body.messages.map((m: { body: number }) => m.body), [2, 3, 4]);
  assert.equal(next.body.messages[0].id, "e2");
  const bad = await call(app, "GET", "/v1/topics/events/messages?limit=0");
  assert.equal(bad.body.type, "invalid_request");
  assert.equal(bad.body.errors[0].path, "query.limit");
  const neg = await call(app, "GET", "/v1/topics/events/messages?fromSeq=-1");
  assert.equal(neg.body.errors[0].path, "query.fromSeq");
  const none = await call(app, "GET", "/v1/topics/none/messages");
  assert.equal(none.body.type, "topic_not_found");
});

Deno.test("transactions: acks and publishes apply together", async () => {
  const { app, node } = localApp();
  await call(app, "PUT", "/v1/queues/in");
  await call(app, "PUT", "/v1/queues/out");
  await call(app, "POST", "/v1/queues/in/messages", { body: "job", id: "j1" });
  const got = await call(app, "POST", "/v1/queues/in/receive", {});
  const receipt = got.body.messages[0].receipt;
  const tx = await call(app, "POST", "/v1/transactions", {
    ack: [{ queue: "in", receipt }],
    publish: [{ queue: "out", body: { result: 42 }, id: "r1" }],
  });
  assert.equal(tx.status, 200);
  assert.equal(tx.body.ack[0].status, "acked");
  assert.equal(tx.body.publish[0].id, "r1");
  assert.equal(node.state.queue("in")?.stats.acked, 1);
  const out = await call(app, "POST", "/v1/queues/out/receive", {});
  assert.deepEqual(out.body.messages[0].body, { result: 42 });
});

Deno.test("transactions: one bad item refuses all with 409 transaction_failed and reasons", async () => {
  const { app, node } = localApp();
  await call(app, "PUT", "/v1/queues/out");
  const tx = await call(app, "POST", "/v1/transactions", {
    ack: [{ queue: "out", receipt: "bogus" }],
    publish: [{ queue: "out", body: 1 }],
  });
  assert.equal(tx.status, 409);
  assert.equal(tx.body.type, "transaction_failed");
  assert.ok(Array.isArray(tx.body.errors) && tx.body.errors.length >= 1);
  assert.equal(tx.body.errors[0].path, "ack[0]");
  assert.equal(typeof tx.body.errors[0].reason, "string");
  assert.equal(node.state.queue("out")?.stats.published, 0);
  const empty = await call(app, "POST", "/v1/transactions", {});
  assert.equal(empty.body.type, "invalid_request");
  const mixed = await call(app, "POST", "/v1/transactions", {
    publish: [{ queue: "out", topic: "t", body: 1 }],
  });
  assert.equal(mixed.body.type, "invalid_request");
});

Deno.test("topics: retention is limits or interest; anything else is a 400 naming it", async () => {
  const { app } = localApp();
  const created = await call(app, "PUT", "/v1/topics/mqtt", { retention: "interest" });
  assert.equal(created.status, 201);
  assert.equal(created.body.retention, "interest");
  await call(app, "PUT", "/v1/topics/mqtt/subscriptions/s", {});
  await call(app, "POST", "/v1/topics/mqtt/messages", { messages: [{ body: 1 }, { body: 2 }] });
  const r = await call(app, "POST", "/v1/topics/mqtt/subscriptions/s/receive", { max: 1 });
  const receipts = r.body.messages.map((m: { receipt: string }) => m.receipt);
  await call(app, "POST", "/v1/topics/mqtt/subscriptions/s/ack", { receipts });
  const one = await call(app, "GET", "/v1/topics/mqtt");
  assert.equal(one.body.messages, 1);
  assert.equal(one.body.firstSeq, 2);
  const bad = await call(app, "PUT", "/v1/topics/mqtt", { retention: "workqueue" });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.type, "invalid_request");
  assert.match(bad.body.detail, /retention/);
  assert.match(bad.body.detail, /"limits"|limits/);
});
