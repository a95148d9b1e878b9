/**
 * `consume` on the stream: deliveries pushed by the node within the credit granted, acks in
 * batches, a deleted queue ending the consumer with its problem; and the raw `consume` frames.
 */
import assert from "node:assert/strict";
import { createApp } from "../http/mod.ts";
import { LocalNode } from "../http/testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { Client } from "./client.ts";
import { QueueNotFound } from "./errors.ts";
import { StreamConnection } from "./stream.ts";

const strict = { sanitizeOps: true, sanitizeResources: true };

function serveNode() {
  const node = new LocalNode();
  const requests: string[] = [];
  const app = createApp({ node, log: silentLogger });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (r) => {
    requests.push(`${r.method} ${new URL(r.url).pathname}`);
    return app.fetch(r);
  });
  return {
    node,
    requests,
    url: `http://127.0.0.1:${server.addr.port}`,
    stop: () => server.shutdown(),
  };
}

Deno.test({
  name: "stream consume: every message handled once, pushed, acked in batches",
  ...strict,
  async fn() {
    const { node, url, stop } = serveNode();
    const client = new Client({ nodes: [url], transport: "stream" });
    const acks: number[] = [];
    const ack = node.propose.bind(node);
    node.propose = (p, o) => {
      const cmd = (p as { cmd: { op: string; receipts?: string[] } }).cmd;
      if (cmd.op === "ack") acks.push(cmd.receipts!.length);
      return ack(p, o);
    };
    try {
      await client.createQueue("jobs");
      await client.publishBatch("jobs", [...Array(200)].map((_, n) => ({ body: n })));
      const seen: number[] = [];
      const stats = await client.consume("jobs", (m) => {
        seen.push(m.body as number);
      }, { concurrency: 16, maxMessages: 200 });
      assert.equal(stats.received, 200);
      assert.equal(stats.acked, 200);
      assert.deepEqual([...seen].sort((a, b) => a - b), [...Array(200).keys()]);
      assert.equal(node.state.queue("jobs")?.stats.ready, 0);
      assert.equal(node.state.queue("jobs")?.stats.leased, 0);
      assert.equal(acks.reduce((a, b) => a + b, 0), 200);
      assert.ok(acks.length < 200, `acks went in batches: ${acks.length} requests`);
    } finally {
      await client.close();
      await stop();
    }
  },
});

Deno.test({
  name: "stream consume: a sequential consumer with prefetch handles each message once, in order",
  ...strict,
  async fn() {
    const { node, url, stop } = serveNode();
    const client = new Client({ nodes: [url], transport: "stream" });
    try {
      await client.createQueue("jobs");
      await client.publishBatch("jobs", [...Array(120)].map((_, n) => ({ body: n })));
      const seen: number[] = [];
      const stats = await client.consume("jobs", (m) => {
        seen.push(m.body as number);
      }, { prefetch: 50, maxMessages: 100 });
      assert.deepEqual(seen, [...Array(100).keys()]);
      assert.equal(stats.acked, 100);
      // Never more leased than maxMessages allowed: the other 20 are ready.
      assert.equal(node.state.queue("jobs")?.stats.ready, 20);
      assert.equal(node.state.queue("jobs")?.stats.leased, 0);
    } finally {
      await client.close();
      await stop();
    }
  },
});

Deno.test({
  name: "stream consume: a missing queue ends consume with QueueNotFound",
  ...strict,
  async fn() {
    const { url, stop } = serveNode();
    const client = new Client({ nodes: [url], transport: "stream" });
    try {
      await assert.rejects(client.consume("nope", () => {}), QueueNotFound);
    } finally {
      await client.close();
      await stop();
    }
  },
});

Deno.test({
  name: "stream consume frames: nothing is pushed beyond the credit; cancel ends with 204",
  ...strict,
  async fn() {
    const { node, url, stop } = serveNode();
    const conn = await StreamConnection.open(url);
    try {
      await conn.request("PUT", "/v1/queues/q", {}, "{}");
      const batch = JSON.stringify({ messages: [...Array(5)].map((_, n) => ({ body: n })) });
      await conn.request("POST", "/v1/queues/q/messages", {}, batch);
      const pushed: number[] = [];
      let onPush = () => {};
      const consumer = conn.consume("/v1/queues/q/receive", { leaseMs: 60_000 }, 2, (text) => {
        pushed.push(...JSON.parse(text).messages.map((m: { body: number }) => m.body));
        onPush();
      });
      for (let i = 0; i < 10 && pushed.length < 2; i++) {
        await new Promise<void>((r) => onPush = r);
      }
      assert.deepEqual(pushed, [0, 1]);
      // The node leased exactly what was granted: two in flight, three ready.
      await conn.request("GET", "/v1/queues/q", {}, undefined);
      assert.equal(node.state.queue("q")?.stats.leased, 2);
      consumer.grant(3);
      for (let i = 0; i < 10 && pushed.length < 5; i++) {
        await new Promise<void>((r) => onPush = r);
      }
      assert.deepEqual(pushed, [0, 1, 2, 3, 4]);
      consumer.cancel();
      assert.equal((await consumer.done).status, 204);
    } finally {
      await conn.close();
      await stop();
    }
  },
});

/** Holds every receive proposal of `node` until `release()`; the others apply at once. */
function holdReceives(node: LocalNode) {
  const propose = node.propose.bind(node);
  const held: (() => void)[] = [];
  let proposed = 0;
  node.propose = (p, o) => {
    if ((p as { cmd: { op: string } }).cmd.op !== "receive") return propose(p, o);
    proposed++;
    return new Promise((resolve) => held.push(() => resolve(propose(p, o))));
  };
  return {
    held,
    proposed: () => proposed,
    release: () => held.splice(0).forEach((go) => go()),
  };
}

/** Waits (at most ~2 s, in 5 ms steps) until `done()`; the caller asserts what it needs. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !done(); i++) await new Promise((r) => setTimeout(r, 5));
}

Deno.test({
  name:
    "stream consume frames: credit granted while a receive waits for its commit starts another receive; pushes stay within the credit",
  ...strict,
  async fn() {
    const { node, url, stop } = serveNode();
    const conn = await StreamConnection.open(url);
    try {
      await conn.request("PUT", "/v1/queues/q", {}, "{}");
      const batch = JSON.stringify({ messages: [...Array(10)].map((_, n) => ({ body: n })) });
      await conn.request("POST", "/v1/queues/q/messages", {}, batch);
      const receives = holdReceives(node);
      const pushed: number[] = [];
      const consumer = conn.consume("/v1/queues/q/receive", { leaseMs: 60_000 }, 2, (text) => {
        pushed.push(...JSON.parse(text).messages.map((m: { body: number }) => m.body));
      });
      await until(() => receives.held.length === 1);
      consumer.grant(3);
      await until(() => receives.held.length === 2);
      // The second receive went while the first still waited for its commit.
      assert.equal(receives.held.length, 2);
      receives.release();
      await until(() => pushed.length === 5);
      assert.deepEqual(pushed, [0, 1, 2, 3, 4]);
      // Exactly the credit was leased: nothing more is proposed until more credit comes.
      await conn.request("GET", "/v1/queues/q", {}, undefined);
      assert.equal(node.state.queue("q")?.stats.leased, 5);
      assert.equal(node.state.queue("q")?.stats.ready, 5);
      assert.equal(receives.proposed(), 2);
      consumer.cancel();
      assert.equal((await consumer.done).status, 204);
    } finally {
      await conn.close();
      await stop();
    }
  },
});

Deno.test({
  name:
    "stream consume frames: on an empty queue more credit runs one more receive at most, then the long poll delivers",
  ...strict,
  async fn() {
    const { node, url, stop } = serveNode();
    const conn = await StreamConnection.open(url);
    try {
      await conn.request("PUT", "/v1/queues/q", {}, "{}");
      let receives = 0;
      const propose = node.propose.bind(node);
      node.propose = (p, o) => {
        if ((p as { cmd: { op: string } }).cmd.op === "receive") receives++;
        return propose(p, o);
      };
      const pushed: number[] = [];
      const consumer = conn.consume("/v1/queues/q/receive", { leaseMs: 60_000 }, 1, (text) => {
        pushed.push(...JSON.parse(text).messages.map((m: { body: number }) => m.body));
      });
      // The first receive long-polls (it listens for applied entries) without proposing: the
      // queue is empty, so it waits first (src/http/receive.ts).
      await until(() => node.listenerCount > 0);
      for (let n = 0; n < 5; n++) {
        consumer.grant(1);
        await conn.request("GET", "/v1/queues/q", {}, undefined);
      }
      await until(() => receives >= 1);
      for (let n = 0; n < 3; n++) await conn.request("GET", "/v1/queues/q", {}, undefined);
      // One overlapping receive (no wait) was proposed and found nothing: no stream of empty ones.
      assert.equal(receives, 1);
      const batch = JSON.stringify({ messages: [...Array(8)].map((_, n) => ({ body: n })) });
      await conn.request("POST", "/v1/queues/q/messages", {}, batch);
      await until(() => pushed.length === 6);
      assert.deepEqual(pushed, [0, 1, 2, 3, 4, 5]);
      await conn.request("GET", "/v1/queues/q", {}, undefined);
      assert.equal(node.state.queue("q")?.stats.leased, 6);
      consumer.cancel();
      assert.equal((await consumer.done).status, 204);
    } finally {
      await conn.close();
      await stop();
    }
  },
});

Deno.test({
  name:
    "stream consume frames: a queue deleted under overlapping receives ends the consumer with its problem",
  ...strict,
  async fn() {
    const { node, url, stop } = serveNode();
    const conn = await StreamConnection.open(url);
    try {
      await conn.request("PUT", "/v1/queues/q", {}, "{}");
      const batch = JSON.stringify({ messages: [...Array(4)].map((_, n) => ({ body: n })) });
      await conn.request("POST", "/v1/queues/q/messages", {}, batch);
      const receives = holdReceives(node);
      const consumer = conn.consume("/v1/queues/q/receive", {}, 1, () => {});
      await until(() => receives.held.length === 1);
      consumer.grant(1);
      await until(() => receives.held.length === 2);
      assert.equal((await conn.request("DELETE", "/v1/queues/q", {}, undefined)).status, 204);
      receives.release();
      const done = await consumer.done;
      assert.equal(done.status, 404);
      assert.equal((await done.json()).type.endsWith("queue_not_found"), true);
    } finally {
      await conn.close();
      await stop();
    }
  },
});

Deno.test({
  name:
    "stream consume: stopped with messages pushed but not handled, it releases them in one nack",
  ...strict,
  async fn() {
    const { node, url, stop } = serveNode();
    const client = new Client({ nodes: [url], transport: "stream" });
    const nacks: number[] = [];
    const propose = node.propose.bind(node);
    node.propose = (p, o) => {
      const cmd = (p as { cmd: { op: string; receipts?: string[] } }).cmd;
      if (cmd.op === "nack") nacks.push(cmd.receipts!.length);
      return propose(p, o);
    };
    try {
      await client.createQueue("jobs");
      await client.publishBatch("jobs", [...Array(300)].map((_, n) => ({ body: n })));
      const stopped = new AbortController();
      let handled = 0;
      const stats = await client.consume("jobs", () => {
        if (++handled === 10) stopped.abort();
      }, { concurrency: 1, prefetch: 300, signal: stopped.signal });
      assert.equal(stats.acked, handled);
      const released = stats.received - handled;
      assert.ok(released > 100, `${released} released`);
      assert.equal(stats.nacked, released);
      assert.deepEqual(nacks, [released]);
      assert.equal(node.state.queue("jobs")?.stats.ready, 300 - handled);
      assert.equal(node.state.queue("jobs")?.stats.leased, 0);
    } finally {
      await client.close();
      await stop();
    }
  },
});
