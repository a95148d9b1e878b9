/**
 * The quorumq client: a fetch-only client for HTTP API v1 that runs in Deno, Node 20+, browsers
 * and edge runtimes: it uses no Deno namespace API. See docs/client.md.
 *
 * ```ts
 * import { Client, QueueFull } from "./src/client/mod.ts";
 * const client = new Client({ nodes: ["http://127.0.0.1:8081", "http://127.0.0.1:8082"] });
 * await client.createQueue("jobs", { deliveryMode: "at_least_once" });
 * await client.publish("jobs", { body: { task: "resize", image: 42 } });
 * await client.consume("jobs", async (message) => console.log(message.body), { signal });
 * ```
 *
 * @module
 */

export { Client } from "./client.ts";
export { ClusterAdmin, Subscriptions, Topics } from "./namespaces.ts";
export type { CallOptions, ClientOptions } from "./client.ts";
export type { ConsumeContext, ConsumeHandler, ConsumeOptions, ConsumeStats } from "./consume.ts";
export { buildTransaction } from "./exactly_once.ts";
export type { ExactlyOnceHandler } from "./exactly_once.ts";
export type { Answer, RetryOptions } from "./transport.ts";
export {
  StreamConnection,
  type StreamConsumer,
  type StreamDial,
  StreamLost,
  type StreamSocket,
} from "./stream.ts";
export { type FollowOptions, leaderElsewhere, StreamPool } from "./stream_pool.ts";
export { packValue, unpackValue } from "./msgpack.ts";
export { inexactNumber } from "./json_numbers.ts";
export * from "./errors.ts";
export type * from "./types.ts";
