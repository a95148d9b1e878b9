/**
 * The shop's web front: `POST /orders` with `{ orderId?, items: [{ sku, qty }], email }` puts
 * the order on the `new-orders` queue and answers 202 at once; fulfillment happens elsewhere.
 * The order id is the message id, so a double-clicked "Buy" (or a browser retry) is enqueued
 * once: the broker remembers ids for the queue's dedup window.
 *
 *   deno run --allow-net --allow-env examples/shop/publish_orders.ts           # serve on :3000
 *   deno run --allow-net --allow-env examples/shop/publish_orders.ts --demo 20  # 20 orders, exit
 *
 * QUORUMQ_NODES (default http://127.0.0.1:8080) says where the broker is.
 *
 * @module
 */

import { Client, InvalidRequest, QueueFull, QuorumqError } from "../../src/client/mod.ts";

/** One order as the front accepts it. */
export interface Order {
  orderId: string;
  email: string;
  items: { sku: string; qty: number }[];
}

/** Creates the shop's queues (PUT is an upsert, so every process may call it at start). */
export async function ensureQueues(client: Client): Promise<void> {
  await client.createQueue("new-orders", { deliveryMode: "exactly_once", leaseMs: 30_000 });
  await client.createQueue("shipping", { deliveryMode: "exactly_once" });
}

/** Checks the shape of a posted order; returns a message for the shopper when it is wrong. */
function invalid(order: Partial<Order>): string | undefined {
  if (typeof order.email !== "string" || !order.email.includes("@")) return "email is missing";
  if (!Array.isArray(order.items) || order.items.length === 0) return "items are missing";
  const bad = order.items.find((i) => typeof i?.sku !== "string" || !(Number(i?.qty) > 0));
  return bad ? `item ${JSON.stringify(bad)} needs a sku and a positive qty` : undefined;
}

/** The front's HTTP handler. */
export function createFront(client: Client): (request: Request) => Promise<Response> {
  return async (request) => {
    const url = new URL(request.url);
    if (request.method !== "POST" || url.pathname !== "/orders") {
      return Response.json({ error: "POST /orders" }, { status: 404 });
    }
    const posted = await request.json().catch(() => ({})) as Partial<Order>;
    const problem = invalid(posted);
    if (problem) return Response.json({ error: problem }, { status: 400 });
    const order: Order = {
      orderId: posted.orderId ?? crypto.randomUUID(),
      email: posted.email!,
      items: posted.items!,
    };
    try {
      const result = await client.publish("new-orders", { id: order.orderId, body: order });
      return Response.json(
        { orderId: order.orderId, seq: result.seq, duplicate: result.duplicate },
        {
          status: 202,
        },
      );
    } catch (error) {
      if (error instanceof QueueFull) {
        return Response.json({ error: "The shop is busy, try again in a moment" }, { status: 503 });
      }
      if (error instanceof InvalidRequest) {
        return Response.json({ error: error.detail }, { status: 400 });
      }
      // UnknownOutcome included: the shopper retries with the same orderId, which is safe.
      const detail = error instanceof QuorumqError ? error.type : "error";
      return Response.json({
        error: `Order not confirmed (${detail}); retry with the same orderId`,
      }, {
        status: 503,
      });
    }
  };
}

/** Publishes `count` random orders through the front's handler (the demo mode). */
export async function demo(
  front: (request: Request) => Promise<Response>,
  count: number,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    const order = {
      orderId: `order-${Date.now()}-${i}`,
      email: `shopper${i}@example.com`,
      items: [{ sku: ["mug", "tee", "cap"][i % 3], qty: 1 + (i % 2) }],
    };
    const post = () =>
      front(new Request("http://shop/orders", { method: "POST", body: JSON.stringify(order) }));
    const first = await (await post()).json();
    const again = await (await post()).json(); // the double click: enqueued once
    console.log(
      `order ${first.orderId} seq ${first.seq}; second click duplicate=${again.duplicate}`,
    );
  }
}

if (import.meta.main) {
  const nodes = (Deno.env.get("QUORUMQ_NODES") ?? "http://127.0.0.1:8080").split(",");
  const client = new Client({ nodes, token: Deno.env.get("QUORUMQ_TOKEN") });
  await ensureQueues(client);
  const front = createFront(client);
  const at = Deno.args.indexOf("--demo");
  if (at >= 0) {
    await demo(front, Number(Deno.args[at + 1] ?? 10));
  } else {
    Deno.serve({ hostname: "127.0.0.1", port: 3000 }, front);
  }
}
