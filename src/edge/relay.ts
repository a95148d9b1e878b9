/**
 * `/v1/stream` at the gateway: a client's stream relayed onto the gateway's one stream to the
 * cluster. Each `req` goes on as a request of the client's caller (the token of its upgrade's
 * `Authorization` or of its `hello`, carried with every request: the node checks it, as it does
 * every request), each `consume` as a consumer of that caller, and `credit` and `cancel` follow
 * it, so consume credit passes through: the node pushes no more than the client granted.
 *
 * When the cluster stream is lost with anything of this client in flight, the client's stream is
 * closed (1011) and gets no answer for it: what a client sees when its own stream to a node is
 * lost, so it retries the same way (same session place or Idempotency-Key, applied once).
 *
 * Batches (docs/stream.md): a client that says `batch: true` in its hello gets it back, and then
 * frames both ways may travel several to a message, as with a node.
 *
 * Differences from a node's stream (docs/edge.md): the token is checked by the node per request,
 * so a bad token gets `unauthorized` answers instead of a refused stream. A page of another
 * origin may open it only when the gateway's CORS origins allow it, as at a node.
 *
 * @module
 */

import { packValue, type StreamConsumer, StreamLost, unpackValue } from "../client/mod.ts";
import { problemBody, problemResponse, type ProblemType } from "../http/problems.ts";
import {
  ANSWER_HEADERS,
  BATCH_FRAMES_MAX,
  STREAM_VERSION as VERSION,
} from "../http/stream_protocol.ts";
import { originAllowed } from "../http/cors.ts";
import type { Upstream } from "./upstream.ts";

/** A server-side WebSocket, as both runtimes give one (binary messages as `ArrayBuffer`). */
export interface AcceptedSocket {
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "message", listener: (event: { readonly data: unknown }) => void): void;
  addEventListener(type: "close", listener: () => void): void;
}

/** Accepts an upgrade request: the socket, and the response that completes the upgrade. */
export type AcceptSocket = (request: Request) => { socket: AcceptedSocket; response: Response };

type Frame = Record<string, unknown>;

/** Handles `GET /v1/stream` at the gateway. */
export function relayStream(
  request: Request,
  upstream: Upstream,
  accept: AcceptSocket,
  corsOrigins: readonly string[] = [],
): Response {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return problemResponse("invalid_request", "/v1/stream is a WebSocket endpoint");
  }
  // WebSockets are outside CORS: the upgrade checks the page's origin itself, as a node does.
  const origin = request.headers.get("origin");
  if (origin !== null && !originAllowed(origin, request.url, corsOrigins)) {
    return problemResponse(
      "forbidden",
      `A page of ${origin} may not open the stream: it is not the gateway's origin nor an allowed one`,
    );
  }
  // Read before the upgrade: Deno's request is closed once upgraded.
  const authorization = request.headers.get("authorization") ?? undefined;
  const { socket, response } = accept(request);
  new RelaySession(socket, upstream, authorization);
  return response;
}

/** One client's stream at the gateway. */
class RelaySession {
  #authorization: string | undefined;
  #open = false;
  #closed = false;
  /** The client reads batches (said in its hello): frames of one turn go in one message. */
  #batching = false;
  #outbox: Frame[] = [];
  readonly #requests = new Map<number, AbortController>();
  readonly #consumers = new Map<number, StreamConsumer>();

  constructor(
    readonly socket: AcceptedSocket,
    readonly upstream: Upstream,
    authorization: string | undefined,
  ) {
    this.#authorization = authorization;
    socket.addEventListener("message", (e) => this.#onMessage(e.data));
    socket.addEventListener("close", () => {
      this.#end();
      // Complete the close handshake: a Worker does not answer a client's close by itself
      // (without it the client waits for ever); in Deno this does nothing more.
      try {
        socket.close(1000, "closed");
      } catch {
        // Closed already.
      }
    });
  }

  #send(frame: Frame): void {
    if (this.#closed) return;
    if (!this.#batching) return this.#write(frame);
    this.#outbox.push(frame);
    if (this.#outbox.length === 1) queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    const frames = this.#outbox;
    this.#outbox = [];
    for (let at = 0; at < frames.length; at += BATCH_FRAMES_MAX) {
      const part = frames.slice(at, at + BATCH_FRAMES_MAX);
      this.#write(part.length === 1 ? part[0] : part);
    }
  }

  #write(message: Frame | Frame[]): void {
    if (this.#closed) return;
    try {
      this.socket.send(packValue(message, VERSION));
    } catch {
      this.#end();
    }
  }

  #problem(i: number | undefined, type: ProblemType, detail: string): void {
    const body = problemBody(type, detail);
    if (i === undefined) this.#send({ t: "error", j: JSON.stringify(body) });
    else this.#send({ t: "res", i, s: body.status, j: JSON.stringify(body) });
  }

  /** The cluster stream was lost under this client's request: it loses its stream too. */
  #lost(): void {
    this.#end();
    try {
      this.socket.close(1011, "the gateway's stream to the cluster was lost");
    } catch {
      // Already closed.
    }
  }

  #end(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of this.#consumers.values()) c.cancel();
    this.#consumers.clear();
    for (const r of this.#requests.values()) r.abort();
    this.#requests.clear();
  }

  #onMessage(data: unknown): void {
    const decoded = decode(data);
    if (Array.isArray(decoded) && this.#open && decoded.length <= BATCH_FRAMES_MAX) {
      for (const frame of decoded) this.#onFrame(frame);
      return;
    }
    this.#onFrame(Array.isArray(decoded) ? undefined : decoded);
  }

  #onFrame(frame: Frame | undefined): void {
    if (frame === undefined) {
      this.#problem(undefined, "invalid_request", "Bad frame: not a version-1 msgpack map");
      this.socket.close(1002, "bad frame");
      this.#end();
      return;
    }
    if (frame.t === "hello") {
      this.#hello(frame).catch(() => this.#lost());
      return;
    }
    if (!this.#open) {
      this.#problem(undefined, "unauthorized", "Send hello first");
      this.socket.close(1008, "hello first");
      this.#end();
      return;
    }
    const i = frame.i;
    if (!Number.isSafeInteger(i) || (i as number) < 0) {
      this.#problem(undefined, "invalid_request", "Bad frame: i must be a non-negative integer");
      return;
    }
    this.#handle(frame, i as number);
  }

  async #hello(frame: Frame): Promise<void> {
    if (typeof frame.token === "string") this.#authorization = `Bearer ${frame.token}`;
    try {
      const stream = await this.upstream.connection();
      this.#open = true;
      const batch = frame.batch === true;
      // hello itself is never batched.
      this.#send({
        t: "hello",
        node: String(stream.hello.node),
        // A client's stream stays on the gateway: it must not follow the cluster's leader past it.
        relay: true,
        v: VERSION,
        ...(batch ? { batch } : {}),
      });
      this.#batching = batch;
    } catch (error) {
      this.#problem(undefined, "no_leader", `The gateway reaches no node: ${String(error)}`);
      this.socket.close(1011, "no upstream");
      this.#end();
    }
  }

  #handle(frame: Frame, i: number): void {
    switch (frame.t) {
      case "req":
        this.#request(frame, i).catch((error) => this.#failed(i, error));
        return;
      case "consume":
        this.#consume(frame, i).catch((error) => this.#failed(i, error));
        return;
      case "credit":
        if (Number.isSafeInteger(frame.n) && (frame.n as number) >= 0) {
          this.#consumers.get(i)?.grant(frame.n as number);
        }
        return;
      case "cancel":
        this.#consumers.get(i)?.cancel();
        this.#requests.get(i)?.abort();
        return;
      default:
        this.#problem(i, "invalid_request", `Bad frame: unknown type ${JSON.stringify(frame.t)}`);
    }
  }

  #caller(): Record<string, string> {
    return this.#authorization === undefined ? {} : { authorization: this.#authorization };
  }

  async #request(frame: Frame, i: number): Promise<void> {
    if (typeof frame.m !== "string" || typeof frame.p !== "string") {
      this.#problem(i, "invalid_request", "Bad frame: req needs m and p");
      return;
    }
    const headers: Record<string, string> = {};
    const given = frame.h;
    if (typeof given === "object" && given !== null) {
      for (const [name, value] of Object.entries(given as Record<string, unknown>)) {
        const lower = name.toLowerCase();
        if (typeof value === "string" && lower !== "authorization") headers[lower] = value;
      }
    }
    Object.assign(headers, this.#caller());
    const body = typeof frame.j === "string"
      ? frame.j
      : frame.b !== undefined
      ? JSON.stringify(frame.b)
      : undefined;
    const abort = new AbortController();
    this.#requests.set(i, abort);
    try {
      const stream = await this.upstream.connection();
      const answer = await stream.request(frame.m, frame.p, headers, body, abort.signal);
      this.#send(await answerFrame(i, answer));
    } finally {
      if (this.#requests.get(i) === abort) this.#requests.delete(i);
    }
  }

  async #consume(frame: Frame, i: number): Promise<void> {
    if (typeof frame.p !== "string" || !Number.isSafeInteger(frame.n)) {
      this.#problem(i, "invalid_request", "Bad frame: consume needs p and n");
      return;
    }
    const b = typeof frame.b === "object" && frame.b !== null ? frame.b as Frame : {};
    const stream = await this.upstream.connection();
    const consumer = stream.consume(
      frame.p,
      b,
      frame.n as number,
      (text) => this.#send({ t: "push", i, j: text }),
      this.#authorization === undefined ? undefined : this.#caller(),
    );
    this.#consumers.set(i, consumer);
    try {
      this.#send(await answerFrame(i, await consumer.done));
    } finally {
      if (this.#consumers.get(i) === consumer) this.#consumers.delete(i);
    }
  }

  #failed(i: number, error: unknown): void {
    if (error instanceof StreamLost) return this.#lost();
    // Cancelled by the client (it expects no answer), or its stream is gone.
    if (this.#closed || (error as Error)?.name === "AbortError") return;
    this.#problem(i, "no_leader", `The gateway reaches no node: ${String(error)}`);
  }
}

/** A frame, or a batch of frames (an array of maps), or undefined when it is neither. */
function decode(data: unknown): Frame | Frame[] | undefined {
  const bytes = data instanceof ArrayBuffer
    ? new Uint8Array(data)
    : data instanceof Uint8Array
    ? data
    : undefined;
  if (bytes === undefined || bytes.byteLength < 2 || bytes[0] !== VERSION) return undefined;
  try {
    const v = unpackValue(bytes.subarray(1));
    const isMap = (x: unknown) => typeof x === "object" && x !== null && !Array.isArray(x);
    if (Array.isArray(v)) return v.every(isMap) ? v as Frame[] : undefined;
    return isMap(v) ? v as Frame : undefined;
  } catch {
    return undefined;
  }
}

/** The `res` frame of the node's answer, as the node sent it. */
async function answerFrame(i: number, response: Response): Promise<Frame> {
  const text = await response.text();
  const h: Record<string, string> = {};
  for (const name of ANSWER_HEADERS) {
    const value = response.headers.get(name);
    if (value !== null) h[name] = value;
  }
  return { t: "res", i, s: response.status, h, ...(text !== "" ? { j: text } : {}) };
}
