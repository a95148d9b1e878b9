/**
 * The ids `consumeExactlyOnce` gives its publishes (test/sim/FINDINGS.md, 22): a message the
 * broker named (no id of its publisher's: an MQTT message, a raw HTTP publish) must commit, and
 * two sources' messages of one id (a topic's message in two subscriptions; two queues numbering
 * their ids alike) must not take each other's outputs as duplicates.
 */

import assert from "node:assert/strict";
import { createApp } from "../http/mod.ts";
import { LocalNode } from "../http/testing/local_node.ts";
import { silentLogger } from "../log.ts";
import { Client } from "./client.ts";
import { outputId } from "./exactly_once.ts";

function setup() {
  const node = new LocalNode();
  const app = createApp({ node, log: silentLogger });
  const fetch: typeof globalThis.fetch = async (input, init) =>
    await app.fetch(new Request(input, init));
  const client = new Client({ nodes: ["http://127.0.0.1:8081"], fetch });
  return { app, client };
}

Deno.test("a message with a broker-made id commits its outputs", async () => {
  const { app, client } = setup();
  await client.createQueue("in");
  await client.createQueue("out");
  // A publisher without an id (raw HTTP, as the MQTT gateway's topic messages are too).
  const r = await app.fetch(
    new Request("http://x/v1/queues/in/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"body":1}',
    }),
  );
  assert.equal(r.status, 201);
  const stats = await client.consumeExactlyOnce("in", (m) => [{ queue: "out", body: m.body }], {
    waitMs: 50,
    maxMessages: 1,
    baseBackoffMs: 10,
  });
  assert.deepEqual(stats, { received: 1, acked: 1, nacked: 0, lost: 0, errors: 0 });
  assert.equal((await client.getQueue("out")).published, 1);
});

Deno.test("one topic message in two subscriptions: both consumers' outputs are kept", async () => {
  const { client } = setup();
  await client.topics.create("orders");
  await client.subscriptions.create("orders", "billing", { startAt: "earliest" });
  await client.subscriptions.create("orders", "shipping", { startAt: "earliest" });
  await client.createQueue("audit");
  await client.topics.publish("orders", { body: { order: 7 }, id: "order-7" });
  for (const subscription of ["billing", "shipping"]) {
    const stats = await client.consumeExactlyOnce(
      { topic: "orders", subscription },
      (m) => [{ queue: "audit", body: { by: subscription, order: m.body } }],
      { waitMs: 50, maxMessages: 1 },
    );
    assert.equal(stats.acked, 1, subscription);
  }
  const audit = await client.receive("audit", { max: 10 });
  assert.deepEqual(audit.map((m) => (m.body as { by: string }).by).sort(), ["billing", "shipping"]);
});

Deno.test("outputId: the source, the id and the place; never ~ first; at most 256", () => {
  assert.equal(outputId("in", "~1.5", 0), "in:~1.5:0");
  assert.equal(outputId({ topic: "t", subscription: "s" }, "m7", 2), "t/s:m7:2");
  const long = outputId("q".repeat(128), "x".repeat(256), 999);
  assert.equal(long.length, 256);
  assert.notEqual(long, outputId("q".repeat(128), "x".repeat(255) + "y", 999));
});
