/**
 * The client against the real HTTP app (src/http) over an in-process single node (no Raft): proves
 * the client and the server read HTTP API v1 the same way, including replays of unknown outcomes.
 */
import assert from "node:assert/strict";
import { createApp } from "../http/mod.ts";
import { LocalNode } from "../http/testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { Client } from "./client.ts";
import {
  IdempotencyConflict,
  InvalidRequest,
  MessageNotFound,
  NoLeader,
  QueueNotFound,
} from "./errors.ts";

function setup(options: { onResponse?: (node: LocalNode, request: Request) => void } = {}) {
  const node = new LocalNode();
  const app = createApp({ node, log: silentLogger });
  const sleeps: number[] = [];
  const requests: Request[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const request = new Request(input, init);
    requests.push(request.clone());
    const response = await app.fetch(request);
    options.onResponse?.(node, request);
    return response;
  };
  const client = new Client({
    nodes: ["http://127.0.0.1:8081"],
    fetch,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
  });
  return { node, client, sleeps, requests };
}

Deno.test("client ↔ server: the queue life cycle speaks the same contract", async () => {
  const { client } = setup();
  await client.createQueue("jobs", { deliveryMode: "at_least_once", leaseMs: 5_000 });
  const first = await client.publish("jobs", { body: { n: 1 }, id: "a", headers: { k: "v" } });
  assert.deepEqual(first, { seq: first.seq, id: "a", duplicate: false });
  assert.equal((await client.publish("jobs", { body: { n: 1 }, id: "a" })).duplicate, true);
  const batch = await client.publishBatch("jobs", [{ body: 2 }, { body: 3 }]);
  assert.equal(batch.length, 2);
  const received = await client.receive("jobs", { max: 10, leaseMs: 1_000 });
  assert.deepEqual(received.map((m) => m.body), [{ n: 1 }, 2, 3]);
  assert.deepEqual(received[0].headers, { k: "v" });
  const [extended] = await client.extend("jobs", received[0].receipt, 2_000);
  assert.equal(extended.status, "extended");
  assert.equal((await client.nack("jobs", received[1].receipt, 0))[0].status, "nacked");
  const acks = await client.ack("jobs", [received[0].receipt, received[2].receipt]);
  assert.deepEqual(acks.map((r) => r.status), ["acked", "acked"]);
  assert.equal((await client.ack("jobs", received[0].receipt))[0].status, "already_acked");
  assert.equal((await client.messageStatus("jobs", "a")).state, "acked");
  const [again] = await client.receive("jobs");
  assert.equal(again.attempt, 2);
  const info = await client.getQueue("jobs");
  assert.equal(info.acked, 2);
  assert.equal(info.leased, 1);
  assert.deepEqual((await client.listQueues()).map((q) => q.name), ["jobs"]);
  await client.deleteQueue("jobs");
  await assert.rejects(client.getQueue("jobs"), QueueNotFound);
});

Deno.test("client ↔ server: typed errors come from the server's problem types", async () => {
  const { client } = setup();
  await assert.rejects(client.publish("missing", { body: 1 }), QueueNotFound);
  await assert.rejects(
    client.createQueue("q", { leaseMs: -5 }),
    (e) => e instanceof InvalidRequest && e.errors.length > 0,
  );
  await client.createQueue("q");
  await assert.rejects(client.messageStatus("q", "nope"), MessageNotFound);
  await client.publish("q", { body: 1, id: "x" }, { idempotencyKey: "k1" });
  await assert.rejects(
    client.publish("q", { body: 2, id: "x" }, { idempotencyKey: "k1" }),
    IdempotencyConflict,
  );
});

Deno.test("client ↔ server: an unknown outcome is retried in the same session place and applied once", async () => {
  let tripped = false;
  const { node, client, requests } = setup({
    onResponse: (n) => {
      if (tripped) n.setMode({ kind: "leader" });
    },
  });
  await client.createQueue("q");
  node.setMode({ kind: "unknown_outcome", apply: true });
  tripped = true;
  const result = await client.publish("q", { body: "once" });
  assert.equal(result.duplicate, false);
  assert.equal((await client.getQueue("q")).published, 1);
  const posts = requests.filter((r) => r.url.endsWith("/messages"));
  assert.equal(posts.length, 2);
  assert.ok(posts[0].headers.get("quorumq-session") !== null);
  assert.equal(posts[0].headers.get("quorumq-session"), posts[1].headers.get("quorumq-session"));
});

Deno.test("client ↔ server: no_leader is retried after Retry-After, then gives NoLeader", async () => {
  const { node, client, sleeps } = setup();
  await client.createQueue("q");
  node.setMode({ kind: "no_leader" });
  const error = await client.publish("q", { body: 1 }).catch((e) => e);
  assert.ok(error instanceof NoLeader, String(error));
  assert.ok(sleeps.length > 0 && sleeps.every((ms) => ms >= 1000), `sleeps ${sleeps}`);
});

Deno.test("client ↔ server: consumeExactlyOnce moves an order to shipping in one transaction", async () => {
  const { client } = setup();
  await client.createQueue("new-orders", { deliveryMode: "exactly_once" });
  await client.createQueue("shipping", { deliveryMode: "exactly_once" });
  await client.publish("new-orders", { body: { order: 7 }, id: "order-7" });
  const stats = await client.consumeExactlyOnce("new-orders", (m) => [
    { queue: "shipping", body: { ship: m.body } },
  ], { waitMs: 50, maxMessages: 1 });
  assert.deepEqual(stats, { received: 1, acked: 1, nacked: 0, lost: 0, errors: 0 });
  assert.equal((await client.messageStatus("new-orders", "order-7")).state, "acked");
  assert.equal((await client.messageStatus("shipping", "new-orders:order-7:0")).state, "ready");
});

Deno.test("client ↔ server: a transaction with a stale ack publishes nothing", async () => {
  const { client } = setup();
  await client.createQueue("in");
  await client.createQueue("out");
  await client.publish("in", { body: 1 });
  const [m] = await client.receive("in");
  await client.ack("in", m.receipt);
  const error = await client.transaction({
    ack: [{ queue: "in", receipt: m.receipt }],
    publish: [{ queue: "out", body: 2 }],
  })
    .catch((e) => e);
  assert.equal(error.type, "transaction_failed");
  assert.equal((await client.getQueue("out")).published, 0);
});

Deno.test("client ↔ server: topics, subscriptions and the cluster view", async () => {
  const { client } = setup();
  await client.topics.create("events");
  await client.subscriptions.create("events", "audit", { startAt: "earliest" });
  await client.topics.publish("events", { body: "e1" });
  await client.topics.publishBatch("events", [{ body: "e2" }]);
  const log = await client.topics.read("events", { fromSeq: 0, limit: 10 });
  assert.deepEqual(log.map((m) => m.body), ["e1", "e2"]);
  const stats = await client.consume({ topic: "events", subscription: "audit" }, () => {}, {
    waitMs: 50,
    maxMessages: 2,
  });
  assert.equal(stats.acked, 2);
  const view = await client.cluster.view();
  assert.equal(view.nodeId, "n1");
  assert.equal(view.leaderId, "n1");
  await client.subscriptions.delete("events", "audit");
  await client.topics.delete("events");
});

Deno.test("client ↔ server: subjects, filters and header conditions route messages", async () => {
  const { client } = setup();
  await client.topics.create("orders");
  await client.subscriptions.create("orders", "created", { filter: "orders.*.created" });
  await client.subscriptions.create("orders", "eu", {
    filters: ["orders.eu.>"],
    headers: { priority: { exists: true } },
  });
  await client.topics.publish("orders", { subject: "orders.eu.created", body: 1 });
  await client.topics.publishBatch("orders", [
    { subject: "orders.us.created", body: 2 },
    { subject: "orders.eu.paid", body: 3, headers: { priority: "high" } },
  ]);
  const created = await client.subscriptions.receive("orders", "created", { max: 10 });
  assert.deepEqual(created.map((m) => [m.subject, m.body]), [
    ["orders.eu.created", 1],
    ["orders.us.created", 2],
  ]);
  const eu = await client.subscriptions.receive("orders", "eu", { max: 10 });
  assert.deepEqual(eu.map((m) => m.body), [3]);
  const page = await client.topics.readPage("orders", { subject: "orders.eu.*" });
  assert.deepEqual(page.messages.map((m) => m.body), [1, 3]);
  assert.equal(page.nextSeq, 4);
  const bad = await client.subscriptions.create("orders", "x", { filter: "ord*" }).catch((e) => e);
  assert.ok(bad instanceof InvalidRequest);
  assert.match(bad.message, /"ord\*".*wildcard inside it/);
});
