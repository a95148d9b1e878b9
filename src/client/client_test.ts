import assert from "node:assert/strict";
import { Client } from "./client.ts";
import { TestBroker } from "../http/testing/test_broker.ts";
import {
  IdempotencyConflict,
  InvalidRequest,
  MessageNotFound,
  QueueNotFound,
  TransactionFailed,
} from "./errors.ts";

const noSleep = () => Promise.resolve();

/**
 * A fetch that lets the broker apply the request, then loses the answer `drops` times: the
 * client cannot know whether the write happened, which is exactly when a retry must not duplicate.
 */
function lossyFetch(broker: TestBroker, drops: number, match: (url: string) => boolean) {
  let left = drops;
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const response = await broker.fetch(input, init);
    if (left > 0 && match(String(input))) {
      left--;
      throw new TypeError("connection reset after the request was sent");
    }
    return response;
  };
  return fetch;
}

function clientFor(broker: TestBroker, fetch: typeof globalThis.fetch = broker.fetch) {
  return new Client({ nodes: ["http://a:1", "http://b:2"], fetch, sleep: noSleep });
}

Deno.test("Client.publish() generates an id once and a retry after a lost answer enqueues once", async () => {
  const broker = new TestBroker();
  const client = clientFor(broker, lossyFetch(broker, 2, (url) => url.endsWith("/messages")));
  await client.createQueue("orders");
  const result = await client.publish("orders", { body: { total: 12 } });
  assert.equal(broker.queue("orders")!.stats.published, 1);
  assert.equal(broker.messageStatus("orders", result.id)!.state, "ready");
  const posts = broker.seen.filter((s) => s.path.endsWith("/messages"));
  assert.equal(posts.length, 3);
  assert.equal(new Set(posts.map((s) => s.session)).size, 1);
  assert.ok(posts.every((s) => s.session !== null && s.idempotencyKey === null));
  assert.equal(new Set(posts.map((s) => (s.body as { id: string }).id)).size, 1);
});

Deno.test("Client.publishBatch() gives each message its own id and keeps given ids", async () => {
  const broker = new TestBroker();
  const client = clientFor(broker, lossyFetch(broker, 1, (url) => url.endsWith("/messages")));
  await client.createQueue("q");
  const results = await client.publishBatch("q", [{ body: 1 }, { body: 2, id: "mine" }, {
    body: 3,
  }]);
  assert.equal(results.length, 3);
  assert.equal(results[1].id, "mine");
  assert.equal(new Set(results.map((r) => r.id)).size, 3);
  assert.equal(broker.queue("q")!.stats.published, 3);
  const [first, retry] = broker.seen.filter((s) => s.path.endsWith("/messages"));
  assert.deepEqual(first.body, retry.body);
});

Deno.test("Client sends its session and a new seq on every write and nothing on reads", async () => {
  const broker = new TestBroker();
  const client = clientFor(broker);
  await client.createQueue("q", { leaseMs: 1000 });
  await client.publish("q", { body: "x" });
  const [message] = await client.receive("q", { max: 5 });
  await client.extend("q", message.receipt, 2000);
  await client.nack("q", message.receipt, 0);
  const [again] = await client.receive("q");
  assert.equal(again.attempt, 2);
  await client.ack("q", [again.receipt]);
  await client.getQueue("q");
  await client.listQueues();
  await client.messageStatus("q", message.id);
  await client.deleteQueue("q");
  assert.deepEqual(broker.seen[0], {
    method: "POST",
    path: "/v1/sessions",
    body: {},
    idempotencyKey: null,
    session: null,
  });
  const seqs: number[] = [];
  for (const seen of broker.seen.slice(1)) {
    const write = seen.method !== "GET";
    assert.equal(seen.session !== null, write, `${seen.method} ${seen.path}`);
    assert.equal(seen.idempotencyKey, null);
    if (seen.session !== null) {
      const [id, seq, lowest] = seen.session.split("/").map(Number);
      assert.equal(id, client.transport.sessionId);
      assert.equal(lowest, seq, "one call at a time: every earlier answer arrived");
      seqs.push(seq);
    }
  }
  assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(broker.seen.length, 12);
});

Deno.test("Client queue calls return the contract's shapes", async () => {
  const broker = new TestBroker();
  const client = clientFor(broker);
  const created = await client.createQueue("q", { deliveryMode: "exactly_once" });
  assert.equal(created.deliveryMode, "exactly_once");
  await client.publish("q", { body: { n: 1 }, id: "a" });
  const duplicate = await client.publish("q", { body: { n: 1 }, id: "a" });
  assert.equal(duplicate.duplicate, true);
  const [message] = await client.receive("q", { leaseMs: 5000 });
  assert.deepEqual(message.body, { n: 1 });
  assert.deepEqual(await client.ack("q", message.receipt), [
    { receipt: message.receipt, status: "acked" },
  ]);
  assert.equal((await client.ack("q", message.receipt))[0].status, "already_acked");
  assert.equal((await client.messageStatus("q", "a")).state, "acked");
  assert.deepEqual((await client.listQueues()).map((q) => q.name), ["q"]);
  assert.equal((await client.getQueue("q")).acked, 1);
});

Deno.test("Client maps problems to typed errors", async () => {
  const broker = new TestBroker();
  const client = clientFor(broker);
  await assert.rejects(client.getQueue("missing"), QueueNotFound);
  await assert.rejects(client.publish("missing", { body: 1 }), (e) => {
    assert.ok(e instanceof QueueNotFound);
    assert.equal(e.status, 404);
    assert.match(e.detail, /missing/);
    return true;
  });
  await client.createQueue("q");
  await assert.rejects(client.messageStatus("q", "nope"), MessageNotFound);
  const key = "fixed-key";
  await client.publish("q", { body: 1, id: "x" }, { idempotencyKey: key });
  await assert.rejects(
    client.publish("q", { body: 2, id: "x" }, { idempotencyKey: key }),
    IdempotencyConflict,
  );
});

Deno.test("Client.transaction() acks and publishes atomically, ids generated once", async () => {
  const broker = new TestBroker();
  const client = clientFor(broker, lossyFetch(broker, 1, (url) => url.endsWith("/transactions")));
  await client.createQueue("in");
  await client.createQueue("out");
  await client.publish("in", { body: "order" });
  const [message] = await client.receive("in");
  await client.transaction({
    ack: [{ queue: "in", receipt: message.receipt }],
    publish: [{ queue: "out", body: "ship" }],
  });
  const posts = broker.seen.filter((s) => s.path === "/v1/transactions");
  assert.equal(posts.length, 2);
  assert.deepEqual(posts[0].body, posts[1].body);
  assert.equal(broker.queue("out")!.stats.published, 1);
  assert.equal(broker.queue("in")!.stats.acked, 1);
  // The same ack again is stale: nothing is published.
  await assert.rejects(
    client.transaction({
      ack: [{ queue: "in", receipt: message.receipt }],
      publish: [{ queue: "out", body: "ship again" }],
    }),
    (e) => e instanceof TransactionFailed && e.errors.length === 1,
  );
  assert.equal(broker.queue("out")!.stats.published, 1);
});

Deno.test("Client path segments are URL-encoded: the server sees one segment, the whole name", async () => {
  const broker = new TestBroker();
  const client = clientFor(broker);
  // Not a valid name: the server refuses it as the `q` parameter, which shows it arrived whole
  // (an unencoded `/` would have been another route, a 404).
  await assert.rejects(client.createQueue("a/b c"), (e) => {
    assert.ok(e instanceof InvalidRequest);
    assert.equal((e.errors[0] as { path: string }).path, "params.q");
    return true;
  });
  assert.equal(broker.seen.at(-1)!.path, "/v1/queues/a%2Fb%20c");
});
