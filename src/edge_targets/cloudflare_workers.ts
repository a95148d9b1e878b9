/**
 * `DurableObject` of the Workers runtime's own module `cloudflare:workers`, which Deno cannot
 * resolve: `worker.ts` imports this file, and the bundle (`run.ts`, `bundleWorker`) points the
 * import at `cloudflare:workers` instead, so what runs in a Worker is the runtime's class. A
 * Durable Object must extend it to take JS RPC calls (workerd refuses them otherwise: "its class
 * was not declared with `extends DurableObject`"). This class only lets `deno check` type the
 * Worker; nothing runs it.
 *
 * @module
 */

/** The base class of a Durable Object (as `cloudflare:workers` declares it). */
export class DurableObject<Env = unknown> {
  constructor(readonly ctx: unknown, readonly env: Env) {}
}
