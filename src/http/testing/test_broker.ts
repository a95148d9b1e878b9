/**
 * Test support: the real HTTP app (`createApp`) over a `LocalNode` (the real `BrokerState`, no
 * Raft), as a `fetch` function or a handler to serve on a socket. It records every request and
 * runs on a clock the test can move forward, so client and CLI tests meet the server's own
 * contract rather than a re-implementation of it.
 *
 * @module
 */

import type { Hono } from "hono";
import type { MessageStatus, QueueInfo } from "../../broker/mod.ts";
import { silentLogger } from "../../log.ts";
import { createApp } from "../app.ts";
import type { AppEnv } from "../context.ts";
import { LocalNode, type LocalNodeOptions } from "./local_node.ts";

/** One recorded request, for assertions. */
export interface Seen {
  readonly method: string;
  /** The path as sent (still percent-encoded). */
  readonly path: string;
  /** The parsed JSON body; undefined when there was none. */
  readonly body: unknown;
  readonly idempotencyKey: string | null;
  /** The `Quorumq-Session` header: `<session>/<seq>/<lowest>`. */
  readonly session: string | null;
}

/** The real app over one in-process node; see the module doc. */
export class TestBroker {
  readonly node: LocalNode;
  readonly app: Hono<AppEnv>;
  readonly seen: Seen[] = [];
  /** Added to the monotonic clock the node's entry time and the app's long polls count on. */
  #offsetMs = 0;

  constructor(nodeOptions: LocalNodeOptions = {}) {
    const nowMs = () => performance.now() + this.#offsetMs;
    this.node = new LocalNode({ monoNowMs: nowMs, ...nodeOptions });
    this.app = createApp({ node: this.node, log: silentLogger, nowMs });
  }

  /** Moves the broker's clock `ms` ahead (a lease or a delay runs out). */
  advance(ms: number): void {
    this.#offsetMs += ms;
  }

  /** The handler: serve it (`Deno.serve`) or call it through `fetch`. */
  handle = async (request: Request): Promise<Response> => {
    const text = await request.clone().text();
    this.seen.push({
      method: request.method,
      path: new URL(request.url).pathname,
      body: text === "" ? undefined : JSON.parse(text),
      idempotencyKey: request.headers.get("idempotency-key"),
      session: request.headers.get("quorumq-session"),
    });
    return await this.app.fetch(request);
  };

  /** A `fetch` that calls the app directly (no socket); it rejects on abort like fetch. */
  fetch: typeof fetch = (input, init) => {
    const request = new Request(input, init);
    const signal = request.signal;
    return new Promise((resolve, reject) => {
      signal.throwIfAborted();
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.handle(request).then(resolve, reject)
        .finally(() => signal.removeEventListener("abort", onAbort));
    });
  };

  /** The queue as the broker holds it now (config and stats), or undefined. */
  queue(name: string): QueueInfo | undefined {
    return this.node.state.queue(name);
  }

  /** Every queue. */
  queues(): QueueInfo[] {
    return this.node.state.listQueues();
  }

  /** The state of one message id, while the broker remembers it. */
  messageStatus(queue: string, id: string): MessageStatus | undefined {
    return this.node.state.messageStatus(queue, id);
  }
}
