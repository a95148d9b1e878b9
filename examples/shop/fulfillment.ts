/**
 * The fulfillment worker: takes each order from `new-orders` and hands a parcel to `shipping`.
 * The parcel is published in the SAME transaction as the ack of the order
 * (`client.consumeExactlyOnce`), so however often this worker crashes, restarts or loses its
 * lease, every order produces exactly one parcel: either the ack and the publish both happen or
 * neither does, and an ack of a lease that ran out (another worker has the order now) fails the
 * whole transaction.
 *
 *   deno run --allow-net --allow-env examples/shop/fulfillment.ts   # Ctrl-C stops cleanly
 *
 * Run several at once: they compete for orders and still ship each one once.
 *
 * @module
 */

import { Client, type ConsumeStats, type ReceivedMessage } from "../../src/client/mod.ts";
import { ensureQueues, type Order } from "./publish_orders.ts";

/** A parcel on the `shipping` queue. */
export interface Parcel {
  orderId: string;
  to: string;
  lines: string[];
}

/** Turns an order into its parcel: pure, so a redelivered order gives the same parcel. */
export function pack(order: Order): Parcel {
  return {
    orderId: order.orderId,
    to: order.email,
    lines: order.items.map((item) => `${item.qty} x ${item.sku}`),
  };
}

/** Runs the worker until `signal` aborts (or `maxOrders` were handled). */
export function runFulfillment(
  client: Client,
  options: { signal?: AbortSignal; maxOrders?: number; log?: (line: string) => void } = {},
): Promise<ConsumeStats> {
  const log = options.log ?? console.log;
  return client.consumeExactlyOnce("new-orders", (message: ReceivedMessage) => {
    const parcel = pack(message.body as Order);
    log(`packing ${parcel.orderId} for ${parcel.to}: ${parcel.lines.join(", ")}`);
    // The parcel's message id defaults to "<order message id>:0": stable across redeliveries.
    return [{ queue: "shipping", body: parcel }];
  }, {
    concurrency: 4,
    leaseMs: 30_000,
    signal: options.signal,
    maxMessages: options.maxOrders,
    onError: (error, message) => log(`order ${message?.id ?? "-"}: ${(error as Error).message}`),
  });
}

if (import.meta.main) {
  const nodes = (Deno.env.get("QUORUMQ_NODES") ?? "http://127.0.0.1:8080").split(",");
  const client = new Client({ nodes, token: Deno.env.get("QUORUMQ_TOKEN") });
  await ensureQueues(client);
  const stop = new AbortController();
  Deno.addSignalListener("SIGINT", () => stop.abort());
  const stats = await runFulfillment(client, { signal: stop.signal });
  console.log(`stopped: ${JSON.stringify(stats)}`);
}
