/**
 * The dialing end of every WebSocket a node opens (its peer links and the forwarding channel),
 * on a TCP connection with TCP_NODELAY set.
 *
 * Why not Deno's `WebSocket`: its client clears TCP_NODELAY on the socket it dials
 * (`setsockopt(TCP_NODELAY, 0)` under strace) and has no option to set it, so Nagle's algorithm
 * holds a small frame back while an earlier small frame is unacknowledged. The listener of a link
 * answers the keepalive ping with a pong, which puts its kernel in delayed-ACK ("pingpong") mode,
 * so the next append after a ping went out at once, its ACK waited up to 40 ms for data to ride on
 * that never came (the answers travel on the other link), and the append after it waited with it:
 * two ~40 ms stalls per keepalive beat on sequential publish. Accepted sockets (`Deno.serve`)
 * already have TCP_NODELAY; `Deno.connect` gives a socket on which we set it ourselves.
 *
 * This is an RFC 6455 client (the wire format is in `ws_protocol.ts`), only what the links need: the opening handshake (no extensions, no
 * subprotocols), masked frames out, text and binary messages in (fragmented or not), ping answered
 * by pong, and the close handshake. It mirrors the part of the `WebSocket` API the links use
 * (`readyState`, `bufferedAmount`, `send`, `close`, `onopen` / `onmessage` / `onclose`), so the
 * callers read as they would with the standard class. Binary messages arrive as `ArrayBuffer`.
 *
 * @module
 */

import { unrefTimeout } from "./_context.ts";
import {
  checkUpgradeAnswer,
  concat,
  encodeFrame,
  frameBytesNeeded,
  HANDSHAKE_MAX_BYTES,
  indexOfHeaderEnd,
  newHandshakeKey,
  OP_BINARY,
  OP_CLOSE,
  OP_CONTINUATION,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  parseFrame,
  upgradeRequest,
} from "./ws_protocol.ts";

/** The part of the standard `WebSocket` interface the links use. */
export interface LinkSocket {
  readonly readyState: number;
  /** Bytes handed to `send` that the kernel has not taken yet. */
  readonly bufferedAmount: number;
  onopen: (() => void) | null;
  onmessage: ((ev: { readonly data: string | ArrayBuffer }) => void) | null;
  onclose: ((ev: { readonly code: number; readonly reason: string }) => void) | null;
  /**
   * Sends a message. A binary one may be given in parts, sent as their concatenation (one
   * message); the parts are copied before `send` returns, so the caller may reuse them.
   */
  send(data: string | Uint8Array | readonly Uint8Array[]): void;
  close(code?: number, reason?: string): void;
}

export interface DialOptions {
  /** A message (all its fragments) larger than this closes the socket (1009). Default 64 MiB. */
  readonly maxMessageBytes?: number;
  /**
   * How long `close()` waits for the peer's close frame before dropping the connection; and how
   * old a TCP connect still in flight at `close()` must be before it is aborted (else it is left
   * to finish and closed then: `#abortConnectOnceHung`). Default 2000.
   */
  readonly closeWaitMs?: number;
  /**
   * `wss:` only: the trust anchors (PEM) the server's certificate must chain to, instead of the
   * system's (the cluster CA of `--peer-ca`). Read at each dial, so a reload applies to the next.
   */
  readonly caCerts?: readonly string[];
}

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

const READ_CHUNK_BYTES = 64 * 1024;
/**
 * Frames queued together are written in one call up to this size (fewer syscalls, segments).
 * Small, since joining them copies them into a new buffer: below the node's 8 KiB malloc
 * mapping threshold (src/server/memory.ts) that is cheap, past it the buffer is a mapping of its
 * own (~100 µs for 50 KB, more than the write it saves); a larger frame is written alone.
 */
const WRITE_COALESCE_BYTES = 7 * 1024;

/** Frame buffers kept for reuse (`#allocate`): from the size where allocating costs, up to 1 MiB. */
const SPARE_BYTES_MIN = 8 * 1024;
const SPARE_BYTES_MAX = 1024 * 1024;

const encoder = new TextEncoder();

/** Opens a WebSocket to `url` (`ws:` or `wss:`) over a TCP connection with TCP_NODELAY set. */
export function dialWebSocket(url: string | URL, options: DialOptions = {}): LinkSocket {
  return new NoDelayWebSocket(new URL(url), options);
}

class NoDelayWebSocket implements LinkSocket {
  onopen: (() => void) | null = null;
  onmessage: ((ev: { readonly data: string | ArrayBuffer }) => void) | null = null;
  onclose: ((ev: { readonly code: number; readonly reason: string }) => void) | null = null;

  #readyState = CONNECTING;
  #conn: Deno.Conn | undefined;
  readonly #dialAbort = new AbortController();
  /** While `Deno.connect` is in flight (see `#abortConnectOnceHung`). */
  #tcpConnecting = false;
  #connectStartedAt = 0;
  #connectAbortTimer: number | undefined;
  readonly #maxMessageBytes: number;
  readonly #closeWaitMs: number;
  readonly #caCerts: readonly string[] | undefined;
  #out: Uint8Array[] = [];
  #bufferedAmount = 0;
  #writing = false;
  /** A written frame's buffer, for the next frame (`#allocate`). */
  #spare: ArrayBuffer | undefined;
  /** Set once a close frame was queued: nothing may follow it. */
  #closeSent = false;
  /** The close the `close` event reports; 1006 (abnormal) unless a close frame said otherwise. */
  #closeCode = 1006;
  #closeReason = "";
  #closeTimer: number | undefined;
  #finished = false;
  // A fragmented data message being assembled.
  #fragments: Uint8Array[] = [];
  #fragmentBytes = 0;
  #fragmentOp = 0;

  constructor(url: URL, options: DialOptions) {
    if (url.protocol !== "ws:" && url.protocol !== "wss:") {
      throw new SyntaxError(`Cannot dial ${url}: expected a ws: or wss: URL`);
    }
    this.#maxMessageBytes = options.maxMessageBytes ?? 64 * 1024 * 1024;
    this.#closeWaitMs = options.closeWaitMs ?? 2000;
    this.#caCerts = options.caCerts;
    void this.#run(url);
  }

  get readyState(): number {
    return this.#readyState;
  }

  get bufferedAmount(): number {
    return this.#bufferedAmount;
  }

  send(data: string | Uint8Array | readonly Uint8Array[]): void {
    if (this.#readyState === CONNECTING) {
      throw new DOMException("The WebSocket is still connecting", "InvalidStateError");
    }
    // As the standard class does: after close() messages are dropped without an error.
    if (this.#readyState !== OPEN || this.#closeSent) return;
    const text = typeof data === "string";
    this.#queue(
      encodeFrame(text ? OP_TEXT : OP_BINARY, text ? encoder.encode(data) : data, this.#allocate),
    );
  }

  close(code = 1000, reason = ""): void {
    if (this.#readyState === CONNECTING) {
      // Fails the dial; the close event reports 1006, as the standard class does.
      this.#readyState = CLOSING;
      if (this.#tcpConnecting) this.#abortConnectOnceHung();
      else this.#dropConnection();
      return;
    }
    if (this.#readyState !== OPEN) return;
    this.#readyState = CLOSING;
    this.#sendClose(code, reason);
  }

  #sendClose(code: number, reason: string): void {
    if (this.#closeSent) return;
    this.#closeSent = true;
    const reasonBytes = encoder.encode(reason);
    const payload = new Uint8Array(2 + reasonBytes.byteLength);
    new DataView(payload.buffer).setUint16(0, code);
    payload.set(reasonBytes, 2);
    this.#queue(encodeFrame(OP_CLOSE, payload));
    // A peer that never answers (a partition) must not hold the connection open.
    this.#closeTimer = unrefTimeout(() => this.#dropConnection(), this.#closeWaitMs);
  }

  async #run(url: URL): Promise<void> {
    try {
      const leftover = await this.#handshake(url);
      if (this.#readyState !== CONNECTING) return;
      this.#readyState = OPEN;
      this.#dispatch(() => this.onopen?.());
      await this.#readLoop(leftover);
      // A close frame we answer (or one sent for a protocol error) goes out before we hang up;
      // the close timer bounds the wait.
      await this.#drained();
    } catch (error) {
      // A failed dial, a broken connection or a protocol error: the close event says 1006, with
      // the cause as its reason (a refused TLS certificate must be visible in the dialer's log).
      if (this.#closeReason === "") {
        this.#closeReason = error instanceof Error ? error.message : String(error);
      }
    } finally {
      this.#finish();
    }
  }

  /**
   * `close()` while the TCP connect is in flight. Aborting `Deno.connect` is not safe at once:
   * when the connection was made but its result not yet handed to JavaScript (the same turn of
   * the event loop), Deno 2.9's `connect` throws the AbortError from its `finally` and drops the
   * connection it made without closing it, an open socket no one can close (a leak per node stop
   * or peer removal that hit the window, and at the dialed peer an accepted connection that
   * stays). So a connect is left to finish, and `#handshake` closes what it returns; only one
   * still in flight `closeWaitMs` after it began (its SYN lost: a partition) is aborted, as late
   * as that, where a connection completing in that very turn is unlikely (SYN retransmits go at
   * 1 s, 3 s, 7 s...).
   */
  #abortConnectOnceHung(): void {
    const ageMs = performance.now() - this.#connectStartedAt;
    this.#connectAbortTimer = unrefTimeout(
      () => this.#dialAbort.abort(),
      Math.max(0, this.#closeWaitMs - ageMs),
    );
  }

  /** Connects, sets TCP_NODELAY, speaks the opening handshake; returns bytes read past it. */
  async #handshake(url: URL): Promise<Uint8Array> {
    const secure = url.protocol === "wss:";
    const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = url.port === "" ? (secure ? 443 : 80) : Number(url.port);
    this.#connectStartedAt = performance.now();
    this.#tcpConnecting = true;
    let tcp: Deno.TcpConn;
    try {
      tcp = await Deno.connect({ hostname, port, signal: this.#dialAbort.signal });
    } finally {
      this.#tcpConnecting = false;
      clearTimeout(this.#connectAbortTimer);
    }
    this.#conn = tcp;
    if (this.#readyState !== CONNECTING) throw new Error("closed while dialing");
    tcp.setNoDelay(true);
    const conn = secure
      ? await Deno.startTls(tcp, {
        hostname,
        ...(this.#caCerts ? { caCerts: [...this.#caCerts] } : {}),
      })
      : tcp;
    this.#conn = conn;
    if (this.#readyState !== CONNECTING) throw new Error("closed while dialing");
    // TLS runs over the same socket, so TCP_NODELAY set above holds (Deno's TlsConn has no
    // setNoDelay of its own; dial_test.ts measures the wss: path too, strace shows no reset).

    const key = newHandshakeKey();
    await writeAll(conn, upgradeRequest(url, key));
    let head: Uint8Array<ArrayBuffer> = new Uint8Array(0);
    let end = -1;
    while (end < 0) {
      if (head.byteLength > HANDSHAKE_MAX_BYTES) throw new Error("handshake answer too long");
      const chunk = new Uint8Array(4096);
      const n = await conn.read(chunk);
      if (n === null) throw new Error("connection closed during the handshake");
      head = concat([head, chunk.subarray(0, n)]);
      end = indexOfHeaderEnd(head);
    }
    await checkUpgradeAnswer(head.subarray(0, end), key);
    return head.slice(end + 4);
  }

  async #readLoop(leftover: Uint8Array): Promise<void> {
    const conn = this.#conn!;
    let buf = new Uint8Array(Math.max(READ_CHUNK_BYTES * 2, leftover.byteLength));
    buf.set(leftover);
    let start = 0;
    let end = leftover.byteLength;
    for (;;) {
      // Every whole frame in the buffer.
      for (;;) {
        const frame = parseFrame(buf, start, end, this.#maxMessageBytes);
        if (frame === undefined) break;
        if ("error" in frame) {
          this.#protocolError(frame.error.code, frame.error.reason);
          return;
        }
        start = frame.next;
        if (!this.#onFrame(frame.fin, frame.op, buf.slice(frame.payloadStart, frame.next))) {
          return;
        }
      }
      if (start === end) {
        start = end = 0;
        // A large message grew the buffer; do not keep it for the small frames after it.
        if (buf.byteLength > READ_CHUNK_BYTES * 16) buf = new Uint8Array(READ_CHUNK_BYTES * 2);
      }
      // Room for the next read: move the partial frame to the front, or grow for a large one.
      if (buf.byteLength - end < READ_CHUNK_BYTES) {
        const need = Math.max(end - start + READ_CHUNK_BYTES, frameBytesNeeded(buf, start, end));
        const next = need > buf.byteLength ? new Uint8Array(need * 2) : buf;
        next.set(buf.subarray(start, end), 0);
        buf = next;
        end -= start;
        start = 0;
      }
      const n = await conn.read(buf.subarray(end));
      if (n === null) return;
      end += n;
    }
  }

  /** Handles one frame; false when the connection is done. */
  #onFrame(fin: boolean, op: number, payload: Uint8Array): boolean {
    switch (op) {
      case OP_PING:
        if (!this.#closeSent) this.#queue(encodeFrame(OP_PONG, payload));
        return true;
      case OP_PONG:
        return true;
      case OP_CLOSE: {
        if (payload.byteLength >= 2) {
          this.#closeCode = new DataView(payload.buffer, payload.byteOffset).getUint16(0);
          this.#closeReason = new TextDecoder().decode(payload.subarray(2));
        } else {
          this.#closeCode = 1005; // no status code in the close frame
        }
        this.#readyState = CLOSING;
        // Echo the close (if we did not start it), then drop the connection once it is written.
        this.#sendClose(payload.byteLength >= 2 ? this.#closeCode : 1000, "");
        return false;
      }
      case OP_TEXT:
      case OP_BINARY:
        if (this.#fragmentOp !== 0) return this.#protocolError(1002, "interleaved message");
        this.#fragmentOp = op;
        break;
      case OP_CONTINUATION:
        if (this.#fragmentOp === 0) return this.#protocolError(1002, "stray continuation");
        break;
      default:
        return this.#protocolError(1002, `unknown opcode ${op}`);
    }
    this.#fragmentBytes += payload.byteLength;
    if (this.#fragmentBytes > this.#maxMessageBytes) {
      return this.#protocolError(1009, "message too big");
    }
    this.#fragments.push(payload);
    if (!fin) return true;
    const bytes = this.#fragments.length === 1 ? this.#fragments[0] : concat(this.#fragments);
    const messageOp = this.#fragmentOp;
    this.#fragments = [];
    this.#fragmentBytes = 0;
    this.#fragmentOp = 0;
    let data: string | ArrayBuffer;
    if (messageOp === OP_TEXT) {
      try {
        data = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      } catch {
        return this.#protocolError(1007, "text message is not UTF-8");
      }
    } else {
      data = bytes.buffer.byteLength === bytes.byteLength
        ? bytes.buffer as ArrayBuffer
        : bytes.slice().buffer as ArrayBuffer;
    }
    // After close() the standard class delivers no more messages; neither do we.
    if (this.#readyState === OPEN) this.#dispatch(() => this.onmessage?.({ data }));
    return true;
  }

  #protocolError(code: number, reason: string): false {
    this.#readyState = CLOSING;
    this.#closeCode = 1006;
    this.#closeReason = reason;
    this.#sendClose(code, reason);
    return false;
  }

  #queue(frame: Uint8Array): void {
    this.#out.push(frame);
    this.#bufferedAmount += frame.byteLength;
    if (!this.#writing) void this.#pump();
  }

  /**
   * Buffers for data frames: the buffer of the last large frame written, when it is large
   * enough, else a new one. On a busy leader every append is a frame of tens of KB per follower;
   * a new buffer each time was an allocation and zero-filling and, under the node's malloc
   * settings (src/server/memory.ts), a mapping of its own (~70 µs for 30 KB).
   */
  readonly #allocate = (bytes: number): Uint8Array => {
    const spare = this.#spare;
    if (bytes < SPARE_BYTES_MIN || spare === undefined || spare.byteLength < bytes) {
      return new Uint8Array(bytes);
    }
    this.#spare = undefined;
    return new Uint8Array(spare, 0, bytes);
  };

  /** Keeps `frame`'s buffer for `#allocate` if it is worth keeping and larger than the spare. */
  #keepSpare(frame: Uint8Array): void {
    const buffer = frame.buffer as ArrayBuffer;
    if (buffer.byteLength < SPARE_BYTES_MIN || buffer.byteLength > SPARE_BYTES_MAX) return;
    if (this.#spare === undefined || this.#spare.byteLength < buffer.byteLength) {
      this.#spare = buffer;
    }
  }

  /** Writes queued frames in order, several small ones per write. */
  async #pump(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#out.length > 0 && this.#conn !== undefined) {
        let take = 1;
        let bytes = this.#out[0].byteLength;
        while (
          take < this.#out.length && bytes + this.#out[take].byteLength <= WRITE_COALESCE_BYTES
        ) {
          bytes += this.#out[take].byteLength;
          take++;
        }
        const parts = this.#out.splice(0, take);
        await writeAll(this.#conn, take === 1 ? parts[0] : concat(parts));
        this.#bufferedAmount -= bytes;
        // Written: a large frame's buffer serves the next one (nothing else holds it).
        if (take === 1) this.#keepSpare(parts[0]);
      }
    } catch {
      this.#dropConnection(); // the read side ends and reports the close
    } finally {
      this.#writing = false;
      this.#notifyDrained();
    }
  }

  #drainWaiters: (() => void)[] = [];

  #drained(): Promise<void> {
    if (!this.#writing && this.#out.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #notifyDrained(): void {
    if (this.#out.length > 0 && this.#conn !== undefined) return;
    for (const w of this.#drainWaiters.splice(0)) w();
  }

  #dropConnection(): void {
    try {
      this.#conn?.close();
    } catch { /* closed already */ }
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#readyState = CLOSED;
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    this.#dropConnection();
    this.#conn = undefined;
    this.#out = [];
    this.#notifyDrained();
    const ev = { code: this.#closeCode, reason: this.#closeReason };
    this.#dispatch(() => this.onclose?.(ev));
  }

  /** Runs an event handler; an exception in it is reported as an uncaught error would be. */
  #dispatch(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      reportError(err);
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.byteLength;) off += await conn.write(bytes.subarray(off));
}
