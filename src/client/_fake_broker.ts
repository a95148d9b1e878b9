// deno-lint-ignore-file no-explicit-any -- a test fake reading untyped JSON bodies
/**
 * Test support only: an in-memory, single-node broker that speaks the queue, transaction and
 * cluster parts of HTTP API v1 as a plain `(Request) => Promise<Response>` function. Tests use it
 * as a fake `fetch`, or serve it on 127.0.0.1 (the Node test, the CLI tests). It keeps
 * Idempotency-Key answers and replays them, and fences receipts per delivery attempt, so the
 * client's retry and consume logic meets the same rules as against the real server.
 *
 * @module
 */

import { sleep } from "./transport.ts";

interface Stored {
  seq: number;
  id: string;
  body: unknown;
  headers: Record<string, string>;
  group: string | null;
  state: "ready" | "leased" | "acked";
  attempt: number;
  leaseExpiresAt: number;
  availableAt: number;
  publishedAt: number;
}

interface Queue {
  config: Record<string, unknown>;
  messages: Stored[];
  byId: Map<string, Stored>;
}

/** One recorded request, for assertions. */
export interface Seen {
  method: string;
  path: string;
  body: unknown;
  idempotencyKey: string | null;
}

type Reply = { status: number; body: unknown; headers?: Record<string, string> };

const problem = (status: number, type: string, detail: string): Reply => ({
  status,
  body: { type, title: type.replaceAll("_", " "), status, detail },
});

/** The fake broker; see the module doc. */
export class FakeBroker {
  readonly queues = new Map<string, Queue>();
  readonly seen: Seen[] = [];
  readonly #idempotent = new Map<string, { request: string; reply: Reply }>();
  #seq = 0;
  now: () => number = () => Date.now();

  /** The handler: pass it as `fetch` (with `fetchFor`) or to a local HTTP server. */
  handle = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const text = request.method === "GET" || request.method === "DELETE"
      ? ""
      : await request.text();
    const body = text === "" ? undefined : JSON.parse(text);
    const key = request.headers.get("idempotency-key");
    this.seen.push({ method: request.method, path: url.pathname, body, idempotencyKey: key });
    const signature = `${request.method} ${url.pathname} ${text}`;
    const stored = key === null ? undefined : this.#idempotent.get(key);
    if (stored && stored.request !== signature) {
      return respond(
        problem(409, "idempotency_conflict", `Key ${key} was used for another request`),
      );
    }
    if (stored) return respond(stored.reply, { "idempotent-replayed": "true" });
    const reply = await this.#route(request.method, url, body, request.signal);
    if (key !== null && reply.status < 500) {
      this.#idempotent.set(key, { request: signature, reply });
    }
    return respond(reply);
  };

  /** A `fetch` that calls the handler directly (no socket); it rejects on abort like fetch. */
  fetch: typeof fetch = (input, init) => {
    const signal = init?.signal;
    if (!signal) return this.handle(new Request(input, init));
    return new Promise((resolve, reject) => {
      signal.throwIfAborted();
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.handle(new Request(input, init)).then(resolve, reject)
        .finally(() => signal.removeEventListener("abort", onAbort));
    });
  };

  async #route(method: string, url: URL, body: any, signal: AbortSignal): Promise<Reply> {
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    if (parts[0] !== "v1") return problem(404, "not_found", url.pathname);
    if (parts[1] === "cluster" && method === "GET") {
      return { status: 200, body: this.clusterView() };
    }
    if (parts[1] === "transactions" && method === "POST") return this.#transaction(body);
    if (parts[1] !== "queues") return problem(404, "not_found", url.pathname);
    if (parts.length === 2) {
      return {
        status: 200,
        body: { queues: [...this.queues.keys()].map((q) => this.#info(q)) },
      };
    }
    const name = parts[2];
    if (parts.length === 3 && method === "PUT") {
      const created = !this.queues.has(name);
      const queue = this.queues.get(name) ?? { config: {}, messages: [], byId: new Map() };
      queue.config = { ...queue.config, ...body };
      this.queues.set(name, queue);
      return { status: created ? 201 : 200, body: this.#info(name) };
    }
    const queue = this.queues.get(name);
    if (!queue) return problem(404, "queue_not_found", `Queue ${name} does not exist`);
    if (parts.length === 3 && method === "GET") return { status: 200, body: this.#info(name) };
    if (parts.length === 3 && method === "DELETE") {
      this.queues.delete(name);
      return { status: 204, body: null };
    }
    if (parts[3] === "messages" && method === "POST") return this.#publish(queue, body);
    if (parts[3] === "messages" && method === "GET") {
      const found = queue.byId.get(parts[4]);
      if (!found) return problem(404, "message_not_found", `Message ${parts[4]} is not remembered`);
      return {
        status: 200,
        body: { id: found.id, seq: found.seq, state: found.state, attempt: found.attempt },
      };
    }
    if (parts[3] === "receive") return await this.#receive(queue, body ?? {}, signal);
    if (parts[3] === "ack" || parts[3] === "nack" || parts[3] === "extend") {
      const results = body.receipts.map((receipt: string) =>
        this.#settle(queue, parts[3], receipt, body)
      );
      return { status: 200, body: { results } };
    }
    return problem(405, "method_not_allowed", `${method} ${url.pathname}`);
  }

  #info(name: string): Record<string, unknown> {
    const queue = this.queues.get(name)!;
    const count = (state: Stored["state"]) =>
      queue.messages.filter((m) => m.state === state).length;
    return {
      name,
      ...queue.config,
      ready: count("ready"),
      leased: count("leased"),
      acked: count("acked"),
      published: queue.messages.length,
    };
  }

  #publish(queue: Queue, body: any): Reply {
    const one = (message: any) => {
      const seen = message.id === undefined ? undefined : queue.byId.get(message.id);
      if (seen) return { seq: seen.seq, id: seen.id, duplicate: true };
      const stored: Stored = {
        seq: ++this.#seq,
        id: message.id ?? crypto.randomUUID(),
        body: message.body,
        headers: message.headers ?? {},
        group: message.group ?? null,
        state: "ready",
        attempt: 0,
        leaseExpiresAt: 0,
        availableAt: this.now() + (message.delayMs ?? 0),
        publishedAt: this.now(),
      };
      queue.messages.push(stored);
      queue.byId.set(stored.id, stored);
      return { seq: stored.seq, id: stored.id, duplicate: false };
    };
    if (Array.isArray(body.messages)) {
      return { status: 201, body: { results: body.messages.map(one) } };
    }
    const result = one(body);
    return { status: result.duplicate ? 200 : 201, body: result };
  }

  async #receive(queue: Queue, body: any, signal: AbortSignal): Promise<Reply> {
    const deadline = this.now() + (body.waitMs ?? 0);
    for (let poll = 0; poll < 10_000; poll++) {
      const messages = this.#lease(
        queue,
        body.max ?? 1,
        body.leaseMs ?? Number(queue.config.leaseMs ?? 30_000),
      );
      if (messages.length > 0 || this.now() >= deadline || signal.aborted) {
        return { status: 200, body: { messages } };
      }
      await sleep(5, signal).catch(() => {});
    }
    return { status: 200, body: { messages: [] } };
  }

  #lease(queue: Queue, max: number, leaseMs: number): unknown[] {
    const now = this.now();
    const out = [];
    for (const m of queue.messages) {
      if (out.length >= max) break;
      const expired = m.state === "leased" && m.leaseExpiresAt <= now;
      if (!(m.state === "ready" && m.availableAt <= now) && !expired) continue;
      m.state = "leased";
      m.attempt++;
      m.leaseExpiresAt = now + leaseMs;
      out.push({
        seq: m.seq,
        id: m.id,
        body: m.body,
        headers: m.headers,
        group: m.group,
        attempt: m.attempt,
        receipt: `${m.seq}.${m.attempt}`,
        leaseExpiresAt: m.leaseExpiresAt,
        publishedAt: m.publishedAt,
      });
    }
    return out;
  }

  /** Checks a receipt names the current, unexpired attempt. */
  #current(queue: Queue, receipt: string): { message?: Stored; status?: string } {
    const [seq, attempt] = receipt.split(".").map(Number);
    const message = queue.messages.find((m) => m.seq === seq);
    if (!message) return { status: "not_found" };
    if (message.state === "acked") return { status: "already_acked" };
    const live = message.state === "leased" && message.attempt === attempt &&
      message.leaseExpiresAt > this.now();
    return live ? { message } : { status: "stale" };
  }

  #settle(queue: Queue, op: string, receipt: string, body: any): Record<string, unknown> {
    const { message, status } = this.#current(queue, receipt);
    if (!message) return { receipt, status };
    if (op === "ack") message.state = "acked";
    if (op === "nack") {
      message.state = "ready";
      message.availableAt = this.now() + (body.delayMs ?? 0);
    }
    if (op === "extend") message.leaseExpiresAt = this.now() + body.leaseMs;
    return {
      receipt,
      status: op === "ack" ? "acked" : op === "nack" ? "nacked" : "extended",
      leaseExpiresAt: message.leaseExpiresAt,
    };
  }

  #transaction(body: any): Reply {
    const errors = [];
    for (const [index, ack] of (body.ack ?? []).entries()) {
      const queue = this.queues.get(ack.queue);
      const status = queue ? this.#current(queue, ack.receipt).status : "queue_not_found";
      if (status) errors.push({ path: `ack[${index}]`, message: `ack ${status}`, reason: status });
    }
    for (const [index, item] of (body.publish ?? []).entries()) {
      if (!this.queues.has(item.queue)) {
        errors.push({ path: `publish[${index}]`, message: "no queue", reason: "queue_not_found" });
      }
    }
    if (errors.length > 0) {
      return {
        status: 409,
        body: { type: "transaction_failed", title: "Transaction failed", status: 409, errors },
      };
    }
    const ack = (body.ack ?? []).map((item: any) =>
      this.#settle(this.queues.get(item.queue)!, "ack", item.receipt, {})
    );
    const publish = (body.publish ?? []).map((item: any) => {
      const { queue, ...message } = item;
      return this.#publish(this.queues.get(queue)!, message).body;
    });
    return { status: 200, body: { ack, publish } };
  }

  /** A fixed three-member view, led by n1. */
  clusterView(): Record<string, unknown> {
    return {
      nodeId: "n1",
      leaderId: "n1",
      term: 3,
      commitIndex: 120,
      appliedIndex: 120,
      members: [
        {
          id: "n1",
          url: "http://127.0.0.1:8081",
          role: "leader",
          matchIndex: 120,
          lastContactMs: 0,
        },
        {
          id: "n2",
          url: "http://127.0.0.1:8082",
          role: "follower",
          matchIndex: 118,
          lastContactMs: 12,
        },
        {
          id: "n3",
          url: "http://127.0.0.1:8083",
          role: "follower",
          matchIndex: 120,
          lastContactMs: 9,
        },
      ],
    };
  }
}

function respond(reply: Reply, extra: Record<string, string> = {}): Response {
  if (reply.status === 204) return new Response(null, { status: 204, headers: extra });
  const type = reply.status >= 400 ? "application/problem+json" : "application/json";
  return new Response(JSON.stringify(reply.body), {
    status: reply.status,
    headers: { "content-type": type, ...reply.headers, ...extra },
  });
}
