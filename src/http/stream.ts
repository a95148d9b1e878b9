/**
 * `/v1/stream`: the client stream (docs/stream.md). One WebSocket carries many requests at once,
 * each with an id, answered in any order. A `req` frame is an HTTP API request (method, path,
 * headers, JSON body) and is run through this node's own app, in process: the same routes,
 * validation, permissions, write pipeline (a follower forwards writes to the leader over the
 * forwarding channel), problems and answers as over HTTP, with no second copy of any rule. The
 * hot ones (publish, receive, settle) skip the app's `Request` and middlewares and call the
 * route's own handler (`direct.ts`).
 * A `consume` frame runs receives for the client while it has credit and pushes what arrives.
 *
 * Auth: with auth on, the stream is authenticated once, by the upgrade's `Authorization` header
 * or by a first `hello` frame carrying the token (browsers cannot set headers on a WebSocket).
 *
 * @module
 */

import type { Principal } from "./auth.ts";
import type { Outcome } from "./answer.ts";
import type { AppDeps } from "./context.ts";
import {
  DirectCall,
  type DirectMatch,
  type DirectRoutes,
  matchDirect,
  plainHeaders,
} from "./direct.ts";
import { SHUTTING_DOWN } from "./drain.ts";
import {
  inProcessRequestText,
  inProcessSignals,
  markInProcess,
  streamPrincipals,
} from "./in_process.ts";
export { streamPrincipals };
import { problemBody, type ProblemType } from "./problems.ts";
import {
  answerFrame,
  type Decoded,
  decodeStreamMessage,
  directFrame,
  encodeStreamBatch,
  encodeStreamFrame,
  RelayRefused,
  STREAM_VERSION,
  type StreamInFrame,
  type StreamOutFrame,
} from "./stream_frames.ts";
import { runConsume } from "./stream_consume.ts";
import { JsonText, passedHeaders, StreamCall } from "./stream_call.ts";
import { notReading, StreamLiveness, UnreadWatch } from "./stream_liveness.ts";
import { INTAKE_SLICE_FRAMES, RecentFsyncs, SlicedIntake } from "./stream_intake.ts";

/** Runs one internal request through the app (its `fetch`). */
export type Dispatch = (request: Request) => Promise<Response>;

/** What a stream runs its requests with: the app, and its direct routes (`direct.ts`). */
export interface StreamApp {
  readonly fetch: Dispatch;
  readonly direct: DirectRoutes;
}

/** How long a stream waits for its in-flight answers before it closes at shutdown. */
const GO_AWAY_MS = 1_000;

/** Requests (and consumers) one stream may have; more are answered `unavailable` at once. */
const MAX_IN_FLIGHT = 4096;
const TOO_MUCH = `${MAX_IN_FLIGHT} requests or consumers, or 64 MiB of answers unread, already`;

/**
 * A batch of answers goes out once its frames' bodies reach this many bytes (more frames wait
 * for the next message), so one batch of large pushes never makes one huge message.
 */
const BATCH_BYTES_MAX = 256 * 1024;

/** A text message, in the intake's order (it closes the stream when its turn comes). */
const TEXT_MESSAGE = ["text"] as const;

/** The signal of a request nothing listens to the end of (a write's). */
const NEVER = new AbortController().signal;

/** An open stream: its socket, its caller, and its consumers. */
export class StreamSession {
  #principal: Principal | undefined;
  #authorization: string | undefined;
  #open: boolean;
  #inFlight = 0;
  /** The client said in `hello` that it reads batches: answers then go out in batches. */
  #batching = false;
  #outbox: StreamOutFrame[] = [];
  #outboxBytes = 0;
  /** Requests in flight by id, to abort on `cancel` or when the stream closes. */
  readonly #requests = new Map<number, AbortController>();
  readonly consumers = new Map<number, { credit: number; wake: () => void; stop: () => void }>();
  /** A client that pings: its silence closes the stream (`pingMs`, stream_liveness.ts). */
  readonly #liveness: StreamLiveness | undefined;
  #ended = false;
  /** The frames received, taken a slice per turn while fsyncs are short (stream_intake.ts). */
  readonly #intake = new SlicedIntake<Decoded | "text">(
    (d) => this.#take(d),
    INTAKE_SLICE_FRAMES,
    () => this.#fsyncs.short(),
  );
  readonly #fsyncs = new RecentFsyncs(() => this.deps.node.metrics().fsyncSeconds);

  constructor(
    readonly socket: WebSocket,
    readonly deps: AppDeps,
    readonly app: StreamApp,
    authorized?: { principal: Principal; header: string },
    /** The client pings at least this often (it opened the stream with `?ping=1`). */
    readonly pingMs?: number,
  ) {
    this.#principal = authorized?.principal;
    this.#authorization = authorized?.header;
    this.#open = deps.auth === undefined || authorized !== undefined;
    socket.binaryType = "arraybuffer";
    socket.onmessage = (e) => this.#onMessage(e.data);
    socket.onclose = () => this.#closed();
    socket.onerror = () => {};
    if (pingMs !== undefined) {
      const liveness = new StreamLiveness(pingMs, () => this.#silent());
      this.#liveness = liveness;
      socket.addEventListener("open", () => liveness.start(), { once: true });
    }
    deps.drain.signal.addEventListener("abort", this.#onDrain, { once: true });
  }

  /**
   * The node is shutting down: what is in flight is answered (long polls end 503 at once,
   * `drain.ts`), then an `error` frame says why and the socket closes with 1001. Bounded: after
   * `GO_AWAY_MS` the stream closes whatever is still running.
   */
  readonly #onDrain = () => this.deps.drain.track(this.#goAway());

  async #goAway(): Promise<void> {
    const until = Date.now() + GO_AWAY_MS;
    while (
      (this.#inFlight > 0 || this.consumers.size > 0 || this.#intake.waiting > 0) &&
      Date.now() < until
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    this.sendProblem(undefined, "unavailable", SHUTTING_DOWN);
    this.#flush(); // before the close below, with the answers still waiting in the outbox
    if (this.socket.readyState !== WebSocket.OPEN) return;
    // Until the client answers the close (the listener's own shutdown would close the socket
    // first, with its own reason).
    const gone = new Promise<void>((resolve) =>
      this.socket.addEventListener("close", () => resolve())
    );
    this.socket.close(1001, "node shutting down");
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([gone, new Promise((r) => timer = setTimeout(r, GO_AWAY_MS))]);
    clearTimeout(timer);
  }

  /**
   * Sends a frame unless the socket is gone (its answer is then lost: unknown to the client).
   * To a client that reads batches, the frames sent in one turn (the answers of the proposals
   * one Raft entry batch applied, say) go in one message: one write and one wake-up of the
   * client instead of one per answer.
   */
  send(frame: StreamOutFrame): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    if (!this.#batching) {
      this.socket.send(encodeStreamFrame(frame));
      this.#unread.sent();
      return;
    }
    this.#outbox.push(frame);
    this.#outboxBytes += "j" in frame && frame.j !== undefined ? frame.j.length : 16;
    if (this.#outboxBytes >= BATCH_BYTES_MAX) this.#flush();
    else if (this.#outbox.length === 1) queueMicrotask(() => this.#flush());
  }

  /** Closes the stream after what is waiting in the outbox (the problem that closes it). */
  #close(code: number, reason: string): void {
    this.#intake.stop();
    this.#flush();
    this.socket.close(code, reason);
  }

  #flush(): void {
    const frames = this.#outbox;
    if (frames.length === 0) return;
    this.#outbox = [];
    this.#outboxBytes = 0;
    if (this.socket.readyState !== WebSocket.OPEN) return;
    this.socket.send(
      frames.length === 1 ? encodeStreamFrame(frames[0]) : encodeStreamBatch(frames),
    );
    this.#unread.sent();
  }

  /** The client reads nothing of what it is sent: the stream ends as a silent one does. */
  readonly #unread = new UnreadWatch(() => this.socket.bufferedAmount, () => {
    this.deps.log.warn("stream_unread", { buffered: this.socket.bufferedAmount });
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(4008, "client not reading");
    this.#closed();
  });

  /** Sends a problem as the answer to request `i`, or as a stream error without one. */
  sendProblem(i: number | undefined, type: ProblemType, detail: string): void {
    const body = problemBody(type, detail);
    if (i === undefined) this.send({ t: "error", j: JSON.stringify(body) });
    else this.send({ t: "res", i, s: body.status, j: JSON.stringify(body) });
  }

  /**
   * The client said nothing for 3 ping periods: it is gone without a FIN (no close would ever
   * come), so the stream ends now, consumers and long polls with it.
   */
  #silent(): void {
    try {
      this.socket.close(4005, "stream silent");
    } catch {
      // Closed already.
    }
    this.#closed();
  }

  #closed(): void {
    if (this.#ended) return;
    this.#ended = true;
    // Frames still waiting for their turn are dropped, as if the stream had ended before them
    // (their calls' outcomes are unknown to the client either way).
    this.#intake.stop();
    this.#liveness?.stop();
    this.#unread.stop();
    this.deps.drain.signal.removeEventListener("abort", this.#onDrain);
    for (const c of this.consumers.values()) c.stop();
    this.consumers.clear();
    // A long poll ends without leasing anything; a write already proposed still applies.
    for (const r of this.#requests.values()) r.abort();
    this.#requests.clear();
  }

  #onMessage(data: unknown): void {
    this.#liveness?.heard();
    // One frame, or a batch of them: each is taken as if it had come alone, in order.
    this.#intake.push(
      data instanceof ArrayBuffer ? decodeStreamMessage(new Uint8Array(data)) : TEXT_MESSAGE,
    );
  }

  /** Takes one frame; false drops the rest of its message (the stream closes, or auth waits). */
  #take(decoded: Decoded | "text"): boolean {
    if (decoded === "text") {
      this.sendProblem(undefined, "invalid_request", "The stream takes binary frames only");
      this.#close(1003, "binary frames only");
      return false;
    }
    if (!this.#open && !(decoded.ok && decoded.frame.t === "hello")) {
      this.sendProblem(undefined, "unauthorized", "Send hello with a bearer token first");
      this.#close(1008, "unauthorized");
      return false;
    }
    if (!decoded.ok) {
      this.sendProblem(decoded.id, "invalid_request", `Bad frame: ${decoded.reason}`);
      if (decoded.fatal) {
        this.#close(1002, decoded.reason.slice(0, 120));
        return false;
      }
      return true;
    }
    const frame = decoded.frame;
    if (frame.t === "hello") {
      this.#hello(frame.token, frame.batch === true).catch((error) => this.#bug(undefined, error));
      // With auth on, what follows the hello in its batch would precede the check: refused.
      return this.#open;
    }
    this.#handle(frame);
    return true;
  }

  #handle(frame: Exclude<StreamInFrame, { t: "hello" }>): void {
    switch (frame.t) {
      case "req":
        if (this.#inFlight >= MAX_IN_FLIGHT || notReading(this.socket)) {
          return this.sendProblem(frame.i, "unavailable", TOO_MUCH);
        }
        this.#inFlight++;
        void this.#request(frame);
        return;
      case "consume":
        if (this.consumers.size >= MAX_IN_FLIGHT || notReading(this.socket)) {
          return this.sendProblem(frame.i, "unavailable", TOO_MUCH);
        }
        if (this.consumers.has(frame.i)) {
          this.sendProblem(frame.i, "invalid_request", `Consumer ${frame.i} is already open`);
          return;
        }
        runConsume(this, frame).catch((error) => this.#bug(frame.i, error));
        return;
      case "credit": {
        const c = this.consumers.get(frame.i);
        if (c !== undefined) {
          c.credit = Math.min(Number.MAX_SAFE_INTEGER, c.credit + frame.n);
          c.wake();
        }
        return;
      }
      case "cancel":
        this.consumers.get(frame.i)?.stop();
        this.#requests.get(frame.i)?.abort();
        return;
      case "ping":
        this.send({ t: "pong" });
        return;
    }
  }

  async #hello(token: string | undefined, batch: boolean): Promise<void> {
    if (this.deps.auth !== undefined && !this.#open) {
      const header = token === undefined ? null : `Bearer ${token}`;
      const principal = await this.deps.auth.authenticate(header);
      if (principal === undefined) {
        this.sendProblem(undefined, "unauthorized", "The bearer token is not valid");
        this.#close(1008, "unauthorized");
        return;
      }
      this.#principal = principal;
      this.#authorization = header!;
      this.#open = true;
    }
    // Said once, before any answer: both ends batch from here on when the client asked to.
    const node = this.deps.node.nodeId;
    this.send({
      t: "hello",
      node,
      v: STREAM_VERSION,
      ...(batch ? { batch } : {}),
      ...(this.pingMs !== undefined ? { ping: this.pingMs } : {}),
    });
    this.#batching = batch;
  }

  /**
   * Runs a request as this stream's caller: directly when `direct.ts` takes it, else through the
   * app. Throws (`RelayRefused`, or a request that cannot be built) before anything runs; the
   * outcome itself never throws but for a bug.
   */
  prepare(
    method: string,
    path: string,
    headers: Record<string, string> | undefined,
    body: unknown,
    signal: AbortSignal,
    match = matchDirect(method, path),
  ): () => Promise<Outcome> {
    const call = this.directCall(method, path, headers, body, signal, match);
    if (call !== undefined) return () => this.app.direct.run(match!, call);
    const request = this.internalRequest(method, path, headers, body, signal);
    return () => this.app.fetch(request);
  }

  /**
   * The direct call (`direct.ts`) of a request `match` names, as this stream's caller; undefined
   * when it goes through the app (no match, a relayed caller, a header a `Request` would
   * change). Throws `RelayRefused`.
   */
  directCall(
    method: string,
    path: string,
    headers: Record<string, string> | undefined,
    body: unknown,
    signal: AbortSignal,
    match: DirectMatch | undefined,
  ): DirectCall | undefined {
    if (match === undefined) return undefined;
    const passed = passedHeaders(headers);
    if (this.#relaying(passed.relayed) !== "stream") return undefined;
    const h = passed.h;
    if (!plainHeaders(h)) return undefined;
    const text = body instanceof JsonText
      ? body.text
      : body === undefined
      ? undefined
      : JSON.stringify(body);
    if (text !== undefined && h["content-type"] === undefined) {
      h["content-type"] = "application/json";
    }
    return new StreamCall(this, headers, body, method, path, this.#principal, h, text, signal);
  }

  /** Builds the app request for `path` as this stream's caller. */
  internalRequest(
    method: string,
    path: string,
    headers: Record<string, string> | undefined,
    body: unknown,
    signal?: AbortSignal,
  ): Request {
    const { h, relayed } = passedHeaders(headers);
    const relay = this.#relaying(relayed);
    if (relay === "caller") {
      // The gateway's caller, authenticated by the app as over HTTP (401 without a token).
      if (relayed !== undefined) h.authorization = relayed;
    } else if (this.#authorization !== undefined) {
      h.authorization = this.#authorization;
    }
    const hasBody = body !== undefined && method !== "GET" && method !== "HEAD";
    if (hasBody && h["content-type"] === undefined) h["content-type"] = "application/json";
    // No body stream: the app takes the text from `inProcessRequestText` (body.ts).
    // The signal is handed over beside the request (`requestSignal`), not followed by it.
    const request = new Request(`http://stream.local${path}`, { method, headers: h });
    markInProcess(request);
    if (signal !== undefined) inProcessSignals.set(request, signal);
    if (hasBody) {
      inProcessRequestText.set(
        request,
        body instanceof JsonText ? body.text : JSON.stringify(body),
      );
    }
    if (relay === "stream" && this.#principal !== undefined) {
      streamPrincipals.set(request, this.#principal);
    }
    return request;
  }

  /**
   * Whose request this is: the stream's own caller, or (`caller`) the one a gateway relays. A
   * relay stream's requests always run as their caller, with no token when it sent none, so the
   * gateway's token lends them nothing. Another stream that sends an `authorization` is refused
   * (`RelayRefused`); with auth off the header is passed on, and means nothing.
   */
  #relaying(relayed: string | undefined): "stream" | "caller" {
    if (this.deps.auth === undefined) return relayed === undefined ? "stream" : "caller";
    if (this.#principal?.relay === true) return "caller";
    if (relayed !== undefined) {
      throw new RelayRefused(
        `The stream's token (${this.#principal?.name ?? "none"}) may not relay another caller's ` +
          'authorization: give it "relay": true in the auth file',
      );
    }
    return "stream";
  }

  /**
   * Runs one `req` frame and sends its answer; never rejects (a bug is logged and answered), and
   * counts the request out of `#inFlight` when done (no `.catch` and `.finally` promises each).
   */
  async #request(frame: Extract<StreamInFrame, { t: "req" }>): Promise<void> {
    try {
      const match = matchDirect(frame.m, frame.p);
      // Only a receive listens for its end (a long poll); a write once proposed applies all the
      // same, so a publish or settle needs no controller of its own (nor an entry to cancel it).
      const abort = match !== undefined && match.op !== "receive"
        ? undefined
        : new AbortController();
      // The direct call, or else the app's request (no closures to run either: `prepare`'s).
      let call: DirectCall | undefined;
      let request: Request | undefined;
      try {
        const body = frame.j !== undefined ? new JsonText(frame.j) : frame.b;
        const signal = abort?.signal ?? NEVER;
        call = this.directCall(frame.m, frame.p, frame.h, body, signal, match);
        if (call === undefined) {
          request = this.internalRequest(frame.m, frame.p, frame.h, body, signal);
        }
      } catch (error) {
        if (error instanceof RelayRefused) this.sendProblem(frame.i, "forbidden", error.message);
        else this.sendProblem(frame.i, "invalid_request", `Not a valid request: ${String(error)}`);
        return;
      }
      if (abort !== undefined) this.#requests.set(frame.i, abort);
      try {
        const outcome = call !== undefined
          ? await this.app.direct.run(match!, call)
          : await this.app.fetch(request!);
        this.send(
          outcome instanceof Response
            ? await answerFrame(frame.i, outcome)
            : directFrame(frame.i, outcome),
        );
      } finally {
        if (abort !== undefined && this.#requests.get(frame.i) === abort) {
          this.#requests.delete(frame.i);
        }
      }
    } catch (error) {
      this.#bug(frame.i, error);
    } finally {
      this.#inFlight--;
    }
  }

  #bug(i: number | undefined, error: unknown): void {
    this.deps.log.error("stream_request_failed", { error });
    this.sendProblem(i, "internal_error", "An unexpected error occurred; it was logged");
  }
}
