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
