/**
 * The client end of `/v1/stream` (docs/stream.md): one WebSocket per node, many requests in
 * flight on it, matched to their answers by id. `StreamPool.fetch` has the shape of `fetch`, so
 * the transport's retries, sessions and error mapping are the same on both transports: an answer
 * becomes a `Response` with the status, headers and JSON text the node's HTTP routes made.
 *
 * A stream lost with requests in flight rejects each of them with `StreamLost`: the node may or
 * may not have applied them, so a write's outcome is unknown and the transport retries it with
 * the same session place (or Idempotency-Key), which the broker applies at most once.
 *
 * @module
 */

import { Out, write } from "./msgpack.ts";
import type { CallSignal } from "./attempt_cancel.ts";
import {
  answerOf,
  BATCH_FRAMES_MAX,
  decode,
  encode,
  type Frame,
  requestFrame,
  type StreamAnswer,
  toResponse,
  VERSION,
  writeReq,
} from "./stream_wire.ts";

export { headerValue, type StreamAnswer } from "./stream_wire.ts";

/** A request was in flight when its stream was lost: its outcome is unknown. */
export class StreamLost extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StreamLost";
  }
}

/**
 * The part of the standard `WebSocket` a stream uses, so that a caller may dial its own (an edge
 * gateway in a runtime whose `WebSocket` constructor does not suit: `src/edge`). Binary messages
 * must arrive as `ArrayBuffer`.
 */
export interface StreamSocket {
  binaryType?: string;
  readonly readyState: number;
  onopen: ((ev: never) => void) | null;
  onmessage: ((ev: { readonly data: unknown }) => void) | null;
  onclose: ((ev: { readonly code: number; readonly reason: string }) => void) | null;
  onerror?: ((ev: never) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** Opens a socket to a `ws:`/`wss:` URL. */
export type StreamDial = (url: string) => StreamSocket;

/**
 * The standard dial, `new WebSocket(url)`: `StreamConnection.open`'s default. A `Client`'s
 * streams default to `defaultDial()` instead (`default_dial.ts`: TCP_NODELAY in Deno).
 */
export const webSocketDial: StreamDial = (url) => new WebSocket(url) as unknown as StreamSocket;

/** `WebSocket.OPEN`, as a number: a dialed socket need not be a `WebSocket`. */
const OPEN = 1;

/**
 * Ping periods with nothing heard from the node before its stream is given up (a node that
 * pings, said so in its `hello`): a node gone without a FIN, its consumers' pushes with it.
 */
const SILENT_PERIODS = 3;

/**
 * One request in flight: it takes its answer (or a push, a consumer's), its stream's loss, or
 * its signal's abort (it is its own abort listener: no closures per request).
 */
class Waiter<T = unknown> {
  constructor(
    readonly stream: StreamConnection,
    readonly i: number,
    readonly map: (frame: Frame) => T,
    readonly resolve: (value: T) => void,
    readonly reject: (error: unknown) => void,
    readonly signal: CallSignal | undefined,
    readonly push: ((text: string) => void) | undefined,
  ) {}

  answer(frame: Frame): void {
    this.signal?.removeEventListener("abort", this);
    this.resolve(this.map(frame));
  }

  lost(error: Error): void {
    this.signal?.removeEventListener("abort", this);
    this.reject(error);
  }

  /** The signal aborted: the node stops a long poll it still runs for it (a write still applies). */
  handleEvent(): void {
    this.stream.abandon(this.i);
    this.reject(this.signal?.reason);
  }
}

/**
 * Where a message's frames start in the outbox: room before them for the version byte and a
 * batch's array header (at most 3 bytes: 4096 frames at most), written in front at the flush.
 */
const FRAMES_AT = 4;
/** The outbox is not kept larger than this after a large batch (it is made anew). */
const OUTBOX_KEEP_BYTES = 1 << 20;
/** A push consumer on a stream (`StreamConnection.consume`). */
export interface StreamConsumer {
  /** Gives the node `n` more deliveries. */
  grant(n: number): void;
  /** Stops the consumer; `done` then resolves. */
  cancel(): void;
  /** The consumer's final answer: 204 when cancelled, else the problem that ended it. */
  readonly done: Promise<Response>;
}

/** One open stream to one node. */
export class StreamConnection {
  #nextId = 1;
  readonly #waiters = new Map<number, Waiter<never>>();
  #lost: Error | undefined;
  /** Resolves once the socket is closed (for whatever reason). */
  readonly closed: Promise<void>;

  /** Closes the stream after this long with nothing in flight (0: never). */
  idleMs = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the idle timer fires (`Infinity`: not set). */
  #idleTimerAt = Infinity;
  /** Since when nothing has been in flight (`#idleCheck`). */
  #idleSince = 0;
  /** The node reads batches (said in its `hello`): frames sent in one turn go in one message. */
  readonly #batching: boolean;
  /**
   * The frames sent in this turn, encoded as they are sent (no frame objects kept until the
   * flush), from `FRAMES_AT` on; `#outFrames` of them.
   */
  #out = new Out();
  #outFrames = 0;

  private constructor(readonly socket: StreamSocket, readonly node: string, readonly hello: Frame) {
    this.#batching = hello.batch === true;
    socket.onmessage = (e) => this.#onMessage(e.data);
    this.closed = new Promise((resolve) => {
      socket.onclose = (e) => {
        this.#lose(new StreamLost(`The stream to ${node} closed (${e.code} ${e.reason})`));
        resolve();
      };
    });
    if (typeof hello.ping === "number" && hello.ping > 0) this.#ping(hello.ping);
  }

  /** Frames sent so far (the ping's look at whether the node heard from us lately). */
  #sent = 0;
  #pinger: ReturnType<typeof setInterval> | undefined;

  /**
   * The node watches this stream's liveness instead of an idle timer (docs/stream.md): it must
   * hear from us every `ms`, so a `ping` goes when nothing else went (or nothing came back, so
   * its `pong` shows the node is there); a node silent for `SILENT_PERIODS` is given up.
   */
  #ping(ms: number): void {
    let seen = -1;
    this.#pinger = setInterval(() => {
      const silentMs = Date.now() - this.lastHeardMs;
      if (silentMs >= SILENT_PERIODS * ms) {
        this.#lose(new StreamLost(`The node ${this.node} said nothing for ${silentMs} ms`));
        this.socket.close(4005, "node silent");
        return;
      }
      if (this.#sent === seen || silentMs >= ms) this.#send({ t: "ping" });
      seen = this.#sent;
    }, ms);
  }

  /**
   * Opens a stream to `node` (its base URL) and says hello with `token`; `dial` opens the socket
   * (default: `new WebSocket`, `webSocketDial`).
   */
  static open(
    node: string,
    token?: string,
    timeoutMs = 10_000,
    dial: StreamDial = webSocketDial,
  ): Promise<StreamConnection> {
    // `ping=1`: this client pings (a node that watches it so says in its hello).
    const url = node.replace(/^http/, "ws") + "/v1/stream?ping=1";
    const socket = dial(url);
    socket.binaryType = "arraybuffer";
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.close();
        reject(new Error(`The stream to ${node} did not open within ${timeoutMs} ms`));
      }, timeoutMs);
      const fail = (why: string) => {
        clearTimeout(timer);
        reject(new Error(`The stream to ${node} could not open: ${why}`));
      };
      socket.onerror = () => fail("connection failed");
      socket.onclose = (e) => fail(`closed (${e.code} ${e.reason})`);
      // `batch`: this client reads batches of frames; the node says in its hello if it does.
      socket.onopen = () =>
        socket.send(
          encode(
            token === undefined ? { t: "hello", batch: true } : { t: "hello", token, batch: true },
          ),
        );
      socket.onmessage = (e) => {
        const decoded = decode(e.data);
        const frame = Array.isArray(decoded) ? undefined : decoded; // the hello comes alone
        clearTimeout(timer);
        if (frame?.t !== "hello") {
          socket.close();
          return fail(typeof frame?.j === "string" ? frame.j : "no hello");
        }
        socket.onerror = null;
        resolve(new StreamConnection(socket, node, frame));
      };
    });
  }

  /** Whether the stream is lost (closed): a new one must be opened. */
  get lost(): boolean {
    return this.#lost !== undefined;
  }

  /** Sends one API request; resolves with the node's answer as a `Response`. */
  request(
    method: string,
    path: string,
    headers: Record<string, string>,
    bodyText?: string,
    signal?: AbortSignal,
  ): Promise<Response> {
    const i = this.#nextId++;
    return this.#callAs(toResponse, i, requestFrame(i, method, path, headers, bodyText), signal);
  }

  /** `request`, with the answer as a `StreamAnswer` (no `Response` built). */
  call(
    method: string,
    path: string,
    headers: Record<string, string>,
    bodyText?: string,
    signal?: CallSignal,
  ): Promise<StreamAnswer> {
    const i = this.#nextId++;
    return this.#callAs(answerOf, i, requestFrame(i, method, path, headers, bodyText), signal);
  }

  /**
   * `call` with the only headers the transport sends on a stream (each checked by the caller as
   * `fetch` would: `headerValue`), written straight into the outbox: no frame or header objects.
   * `moved`: the call was addressed to another node (the pool moved to this one, the leader):
   * the answer says `servedBy` this node.
   */
  callWith(
    method: string,
    path: string,
    idempotencyKey: string | undefined,
    session: string | undefined,
    bodyText: string | undefined,
    signal: CallSignal | undefined,
    moved = false,
  ): Promise<StreamAnswer & { readonly servedBy?: string }> {
    const i = this.#nextId++;
    let waiter!: Waiter<StreamAnswer>;
    const map = moved ? this.#servedHere : answerOf;
    const answer = new Promise<StreamAnswer>((resolve, reject) => {
      waiter = new Waiter(this, i, map, resolve, reject, signal, undefined);
    });
    if (this.#lost) waiter.reject(this.#lost);
    else if (signal?.aborted) waiter.reject(signal.reason);
    else if (this.socket.readyState === OPEN) {
      const out = this.#frameOut();
      writeReq(out, i, method, path, idempotencyKey, session, bodyText);
      this.#waiting(waiter, signal);
      this.#framed();
    } else this.#waiting(waiter, signal);
    return answer;
  }

  /**
   * Opens a push consumer on a receive path with `credit` deliveries granted; `headers` is at
   * most a relayed caller's `authorization` (an edge gateway's stream).
   */
  consume(
    path: string,
    body: Record<string, unknown>,
    credit: number,
    onPush: (messagesJson: string) => void,
    headers?: Record<string, string>,
  ): StreamConsumer {
    const i = this.#nextId++;
    const frame: Frame = { t: "consume", i, p: path, n: credit, b: body };
    if (headers !== undefined) frame.h = headers;
    const done = this.#call(i, frame, undefined, onPush);
    return {
      grant: (n) => this.#send({ t: "credit", i, n }),
      cancel: () => this.#send({ t: "cancel", i }),
      done,
    };
  }

  /** Closes the stream; in-flight requests end `StreamLost`. Resolves once it is closed. */
  async close(): Promise<void> {
    this.#flush(); // what was sent before the close goes first
    this.socket.close(1000, "client closed");
    await this.closed;
  }

  #call(i: number, frame: Frame, signal?: AbortSignal, push?: (t: string) => void) {
    return this.#callAs(toResponse, i, frame, signal, push);
  }

  /** An answer that says it came from this node (`callWith`'s `moved`). */
  readonly #servedHere = (frame: Frame) => answerOf(frame, this.node);

  #callAs<T>(
    map: (frame: Frame) => T,
    i: number,
    frame: Frame,
    signal?: CallSignal,
    push?: (t: string) => void,
  ): Promise<T> {
    let waiter!: Waiter<T>;
    const answer = new Promise<T>((resolve, reject) => {
      waiter = new Waiter(this, i, map, resolve, reject, signal, push);
    });
    if (this.#lost) waiter.reject(this.#lost);
    else if (signal?.aborted) waiter.reject(signal.reason);
    else {
      try {
        this.#send(frame); // first: a frame that cannot be encoded leaves no waiter behind
        this.#waiting(waiter, signal);
      } catch (error) {
        waiter.reject(error);
      }
    }
    return answer;
  }

  /** `waiter` waits for its answer, and for its signal's abort. */
  #waiting<T>(waiter: Waiter<T>, signal: CallSignal | undefined): void {
    signal?.addEventListener("abort", waiter, { once: true });
    this.#waiters.set(waiter.i, waiter as unknown as Waiter<never>);
  }

  /** Request `i` was given up (its signal aborted): the node stops a long poll it still runs. */
  abandon(i: number): void {
    if (this.#waiters.delete(i)) this.#send({ t: "cancel", i });
    this.#idleCheck();
  }

  /**
   * Sends a frame; to a node that reads batches, every frame sent in this turn goes in one
   * message (256 lanes answered together ask again together: one write, one wake-up). Throws
   * `RangeError`, with nothing sent, for a frame that is not JSON-like.
   */
  #send(frame: Frame): void {
    if (this.socket.readyState !== OPEN) return;
    const out = this.#frameOut();
    const start = out.at;
    try {
      write(out, frame);
    } catch (error) {
      out.at = start;
      throw error;
    }
    this.#framed();
  }

  /** The outbox, to write one more frame at its end. */
  #frameOut(): Out {
    if (this.#outFrames === 0) this.#out.at = FRAMES_AT;
    return this.#out;
  }

  /** A frame was written to the outbox: it goes in this turn's message (now, when not batching). */
  #framed(): void {
    this.#sent++;
    const n = ++this.#outFrames;
    if (!this.#batching || n === BATCH_FRAMES_MAX) this.#flush();
    else if (n === 1) queueMicrotask(this.#flushSoon);
  }

  readonly #flushSoon = () => this.#flush();

  /** Sends the outbox as one message: one frame, or a batch (a msgpack array) of them. */
  #flush(): void {
    const n = this.#outFrames;
    if (n === 0) return;
    this.#outFrames = 0;
    if (this.socket.readyState !== OPEN) return;
    const out = this.#out;
    const bytes = out.bytes;
    let start = FRAMES_AT - 1;
    if (n >= 16) {
      start = FRAMES_AT - 4;
      bytes[FRAMES_AT - 3] = 0xdc; // array 16 (at most BATCH_FRAMES_MAX frames)
      bytes[FRAMES_AT - 2] = n >>> 8;
      bytes[FRAMES_AT - 1] = n & 0xff;
    } else if (n > 1) {
      start = FRAMES_AT - 2;
      bytes[FRAMES_AT - 1] = 0x90 | n;
    }
    bytes[start] = VERSION;
    // A copy: the socket may hold on to what it is given, and the outbox is written again.
    const message = bytes.slice(start, out.at);
    if (bytes.length > OUTBOX_KEEP_BYTES) this.#out = new Out();
    this.socket.send(message);
  }

  #onMessage(data: unknown): void {
    this.lastHeardMs = Date.now();
    const decoded = decode(data);
    if (Array.isArray(decoded)) {
      for (const frame of decoded) {
        if (typeof frame === "object" && frame !== null) this.#onFrame(frame as Frame);
      }
    } else if (decoded !== undefined) this.#onFrame(decoded);
  }

  #onFrame(frame: Frame): void {
    const i = frame.i as number;
    if (frame.t === "push") {
      this.#waiters.get(i)?.push?.(frame.j as string);
    } else if (frame.t === "res") {
      const waiter = this.#waiters.get(i);
      this.#waiters.delete(i);
      this.#idleCheck();
      waiter?.answer(frame);
    } else if (frame.t === "error") {
      this.#lose(new StreamLost(`The node ${this.node} refused the stream: ${frame.j}`));
      this.socket.close();
    }
  }

  /** When the node last sent anything (`Date.now()`): a stream that says nothing may be dead. */
  lastHeardMs = Date.now();

  /** Requests and consumers in flight. */
  get inFlight(): number {
    return this.#waiters.size;
  }

  /** Closes the stream as soon as nothing is in flight on it (now, if nothing is). */
  drain(): void {
    this.idleMs = 1;
    this.#idleCheck();
  }

  /**
   * With nothing in flight, closes the stream after `idleMs` (a script can then exit). One
   * timer serves many idle spells: a call does not clear it, and when it fires during a call or
   * before the spell is `idleMs` old it waits again for what is left. A sequential caller is
   * idle between every answer and its next call: a set and a clear of a timer per request were
   * ~7.5 µs of client CPU (Deno's timers), now one timer per `idleMs`.
   */
  #idleCheck(): void {
    if (this.#waiters.size > 0 || this.idleMs <= 0) return;
    this.#idleSince = Date.now();
    this.#armIdle(this.#idleSince + this.idleMs);
  }

  /** Sets the idle timer to fire at `at`, unless it fires by then already. */
  #armIdle(at: number): void {
    if (this.#idleTimer !== undefined && this.#idleTimerAt <= at) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimerAt = at;
    this.#idleTimer = setTimeout(() => this.#idleDue(), Math.max(0, at - Date.now()));
  }

  #idleDue(): void {
    this.#idleTimer = undefined;
    this.#idleTimerAt = Infinity;
    // Busy: the answer that ends this call starts the next spell (and sets the timer again).
    if (this.#waiters.size !== 0 || this.idleMs <= 0) return;
    const at = this.#idleSince + this.idleMs;
    if (Date.now() < at) return this.#armIdle(at);
    this.#flush(); // a cancel or credit still waiting goes first
    this.socket.close(1000, "idle");
  }

  #lose(error: Error): void {
    clearTimeout(this.#idleTimer);
    clearInterval(this.#pinger);
    this.#lost ??= error;
    const waiters = [...this.#waiters.values()];
    this.#waiters.clear();
    for (const w of waiters) w.lost(this.#lost);
  }
}
