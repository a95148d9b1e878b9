import assert from "node:assert/strict";
import { createApp } from "../../src/http/mod.ts";
import { LocalNode } from "../../src/http/testing/local_node.ts";
import { silentLogger } from "../../src/log.ts";
import { Client } from "../../src/client/mod.ts";
import { createFront, ensureQueues } from "./publish_orders.ts";
import { pack, runFulfillment } from "./fulfillment.ts";

function shop() {
  const app = createApp({ node: new LocalNode(), log: silentLogger });
  const client = new Client({
    nodes: ["http://127.0.0.1:8080"],
    fetch: (input, init) => Promise.resolve(app.fetch(new Request(input, init))),
  });
  return { client, front: createFront(client) };
}

const post = (front: (r: Request) => Promise<Response>, body: unknown) =>
  front(new Request("http://shop/orders", { method: "POST", body: JSON.stringify(body) }));

Deno.test("shop front enqueues a double-clicked order once and rejects a bad one", async () => {
  const { client, front } = shop();
  await ensureQueues(client);
  const order = { orderId: "o-1", email: "a@example.com", items: [{ sku: "mug", qty: 2 }] };
  const first = await post(front, order);
  assert.equal(first.status, 202);
  assert.equal((await first.json()).duplicate, false);
  assert.equal((await (await post(front, order)).json()).duplicate, true);
  assert.equal((await client.getQueue("new-orders")).published, 1);
  const bad = await post(front, { email: "nope", items: [] });
  assert.equal(bad.status, 400);
});

Deno.test("shop fulfillment ships each order exactly once, in the ack's transaction", async () => {
  const { client, front } = shop();
  await ensureQueues(client);
  for (let i = 0; i < 5; i++) {
    await post(front, {
      orderId: `o-${i}`,
      email: `s${i}@example.com`,
      items: [{ sku: "tee", qty: 1 }],
    });
  }
  const lines: string[] = [];
  const stats = await runFulfillment(client, { maxOrders: 5, log: (l) => lines.push(l) });
  assert.equal(stats.acked, 5);
  assert.equal(lines.length, 5);
  const parcels = await client.receive("shipping", { max: 10 });
  assert.deepEqual(parcels.map((p) => (p.body as { orderId: string }).orderId).toSorted(), [
    "o-0",
    "o-1",
    "o-2",
    "o-3",
    "o-4",
  ]);
  assert.equal((await client.getQueue("new-orders")).acked, 5);
});

Deno.test("pack() lists the order's lines for its shopper", () => {
  assert.deepEqual(pack({ orderId: "o", email: "e@x", items: [{ sku: "cap", qty: 3 }] }), {
    orderId: "o",
    to: "e@x",
    lines: ["3 x cap"],
  });
});
