/**
 * One outbound link: this node dials `peerId`, authenticates (see `auth.ts`), and sends Raft
 * frames on it. Links are one-way: a node sends only on links it dialed, and only receives on
 * links it accepted, so each direction has exactly one socket and no tie-breaking is needed.
 *
 * Messages wait in a bounded queue while the link is down or the socket is backed up; when the
 * queue is full the OLDEST messages are dropped (and counted): Raft retransmits, and the newest
 * messages carry the newest term and commit, which is what a reconnecting peer needs first.
 *
 * @module
 */

import type { Message, NodeId } from "../raft/mod.ts";
import {
  clientProofInput,
  newNonce,
  parseHandshake,
  serverProofInput,
  sign,
  verify,
} from "./auth.ts";
import { encodeFrameParts, errorText, estimateMessageBytes } from "./codec.ts";
import { dialWebSocket, type LinkSocket } from "./dial.ts";
import { certProofInput } from "./peer_tls.ts";
import { Keepalive, PING, PONG } from "./keepalive.ts";
import {
  CloseCode,
  closeReason,
  HANDSHAKE_PATIENCE_MAX,
  type LinkContext,
  unrefTimeout,
} from "./_context.ts";

/** The cluster path under a node's advertised base URL, served by `Transport.handleUpgrade`. */
export const CLUSTER_LINK_PATH = "/cluster/v1/link";

const CLOSE_WAIT_MS = 2000;

export type OutboundState = "connecting" | "handshaking" | "open" | "backoff" | "closed";

/** Counters of one outbound link, as `Transport.stats()` reports them. */
export interface OutboundStats {
  readonly url: string;
  readonly state: OutboundState;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  readonly sentMessages: number;
  readonly sentFrames: number;
  readonly sentBytes: number;
  readonly droppedQueueFull: number;
  /** Links that reached `open`. */
  readonly connects: number;
  /** Open links given up because the peer went quiet (a partition that drops packets). */
  readonly silentLinks: number;
  readonly lastError: string | undefined;
}

/** Turns an advertised base URL (`http://host:port[/prefix]`) into the link's WebSocket URL. */
export function linkUrl(baseUrl: string): string {
  const u = new URL(baseUrl);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  else if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw new Error(`Cannot dial peer at ${baseUrl}: expected an http(s) or ws(s) URL`);
  }
  u.pathname = u.pathname.replace(/\/+$/, "") + CLUSTER_LINK_PATH;
  return u.toString();
}

export class OutboundLink {
  readonly peerId: NodeId;
  /** The peer's advertised URL, as given. */
  readonly baseUrl: string;
  readonly url: string;
  #state: OutboundState = "connecting";
  #ws: LinkSocket | undefined;
  #timer: number | undefined;
  #attempt = 0;
  /**
   * The bound on the next dial's handshake: `handshakeTimeoutMs`, doubled after each handshake
   * that timed out although the socket had opened (the peer is there, the machine is slow), up
   * to `HANDSHAKE_PATIENCE_MAX` times it; back to the base after an open link, or a dial that
   * timed out before its socket opened (a partition swallowing the SYN: redial soon).
   */
  #handshakeMs: number;
  #flushScheduled = false;
  // A deque: live messages are #queue[#head..]; dropped and sent slots are cleared.
  #queue: Message[] = [];
  #head = 0;
  #queuedBytes = 0;
  #dropping = false;
  #closing: Promise<void> | undefined;
  readonly #work = new Set<Promise<void>>();
  #resolveClosed: (() => void) | undefined;
  #counters = {
    sentMessages: 0,
    sentFrames: 0,
    sentBytes: 0,
    droppedQueueFull: 0,
    connects: 0,
    silentLinks: 0,
  };
  #lastError: string | undefined;
  /** Watches the open socket (see keepalive.ts); undefined while not open. */
  #keepalive: Keepalive | undefined;

  constructor(private readonly ctx: LinkContext, peerId: NodeId, baseUrl: string) {
    this.peerId = peerId;
    this.baseUrl = baseUrl;
    this.url = linkUrl(baseUrl);
    this.#handshakeMs = ctx.limits.handshakeTimeoutMs;
    this.#connect();
  }

  get state(): OutboundState {
    return this.#state;
  }

  /** Queues messages for this peer and schedules one flush in a microtask (bursts batch). */
  enqueue(msgs: readonly Message[]): void {
    if (this.#state === "closed") return;
    const { queueMessagesMax, queueBytesMax } = this.ctx.limits;
    for (const m of msgs) {
      this.#queue.push(m);
      this.#queuedBytes += estimateMessageBytes(m);
    }
    let dropped = 0;
    while (
      this.#queue.length - this.#head > 1 &&
      (this.#queue.length - this.#head > queueMessagesMax || this.#queuedBytes > queueBytesMax)
    ) {
      this.#queuedBytes -= estimateMessageBytes(this.#takeOne());
      dropped++;
    }
    if (dropped > 0) this.#noteDrops(dropped);
    this.#compact();
    this.#scheduleFlush();
  }

  /**
   * The peer answered a message of ours (a `*_resp`, on its own link to us): it received what
   * this link carried, which proves this link as a pong would. While answers come, the dialer
   * sends no pings (a leader's links carry heartbeats and their answers every 50 ms).
   */
  answered(): void {
    if (this.#state === "open") this.#keepalive?.heard();
  }

  stats(): OutboundStats {
    return {
      url: this.url,
      state: this.#state,
      queuedMessages: this.#queue.length - this.#head,
      queuedBytes: this.#queuedBytes,
      ...this.#counters,
      lastError: this.#lastError,
    };
  }

  /** Closes the socket for good and waits (bounded) for it to be closed. */
  close(): Promise<void> {
    if (this.#state === "closed") return this.#closing ?? Promise.resolve();
    this.#state = "closed";
    this.#clearTimer();
    this.#stopKeepalive();
    this.#queue = [];
    this.#head = 0;
    this.#queuedBytes = 0;
    this.#closing = this.#closeSocket();
    return this.#closing;
  }

  async #closeSocket(): Promise<void> {
    const ws = this.#ws;
    if (ws !== undefined && ws.readyState !== WebSocket.CLOSED) {
      const closed = new Promise<void>((resolve) => {
        this.#resolveClosed = resolve;
      });
      ws.close(CloseCode.Shutdown, "transport closed");
      // Bounded: a close handshake that never completes must not hang shutdown.
      let timer: number | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = unrefTimeout(resolve, CLOSE_WAIT_MS);
      });
      await Promise.race([closed, timeout]);
      clearTimeout(timer);
    }
    // Handshake crypto still running must finish before the caller may consider us closed.
    await Promise.allSettled([...this.#work]);
  }

  /** Runs a handshake step; a failure closes the link. Tracked so `close()` can wait for it. */
  #track(ws: LinkSocket, step: Promise<void>, what: string): void {
    const p = step.catch((err) => this.#fail(ws, `${what} failed: ${errorText(err)}`));
    this.#work.add(p);
    void p.finally(() => this.#work.delete(p));
  }

  #noteDrops(dropped: number): void {
    this.#counters.droppedQueueFull += dropped;
    // One log line per episode of drops (until the queue drains), not one per message.
    if (!this.#dropping) {
      this.#dropping = true;
      this.ctx.log("queue_drop", {
        peer: this.peerId,
        state: this.#state,
        dropped,
        droppedTotal: this.#counters.droppedQueueFull,
      });
    }
  }

  #takeOne(): Message {
    const m = this.#queue[this.#head];
    (this.#queue as (Message | undefined)[])[this.#head] = undefined;
    this.#head++;
    return m;
  }

  #compact(): void {
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#state !== "open") return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** Sends queued messages as frames while the socket is not backed up. */
  #flush(): void {
    const ws = this.#ws;
    if (this.#state !== "open" || ws === undefined) return;
    const { bufferedBytesHigh, frameBytesMax, drainPollMs } = this.ctx.limits;
    while (this.#head < this.#queue.length) {
      if (ws.bufferedAmount > bufferedBytesHigh) {
        // WebSocket has no drain event: poll until the socket has room again.
        if (this.#timer === undefined) {
          this.#timer = unrefTimeout(() => {
            this.#timer = undefined;
            this.#flush();
          }, drainPollMs);
        }
        return;
      }
      const batch: Message[] = [];
      let bytes = 0;
      while (this.#head < this.#queue.length) {
        const size = estimateMessageBytes(this.#queue[this.#head]);
        if (batch.length > 0 && bytes + size > frameBytesMax) break;
        batch.push(this.#takeOne());
        bytes += size;
      }
      this.#queuedBytes -= bytes;
      const frame = encodeFrameParts(batch);
      try {
        ws.send(frame);
      } catch (err) {
        // The socket is closing; these messages are lost and Raft will resend them.
        this.#lastError = `send failed: ${errorText(err)}`;
        return;
      }
      this.#counters.sentFrames++;
      this.#counters.sentMessages += batch.length;
      this.#counters.sentBytes += frame[0].byteLength + frame[1].byteLength;
    }
    this.#compact();
    this.#dropping = false;
  }

  #connect(): void {
    if (this.#state === "closed") return;
    this.#state = "connecting";
    let ws: LinkSocket;
    try {
      // TCP_NODELAY: no append waits for the ACK of the one before it (see dial.ts).
      ws = dialWebSocket(
        this.url,
        this.ctx.peerTls ? { caCerts: this.ctx.peerTls.caCerts } : {},
      );
    } catch (err) {
      this.#lastError = `dial failed: ${errorText(err)}`;
      this.#scheduleReconnect();
      return;
    }
    this.#ws = ws;
    this.#timer = unrefTimeout(() => {
      this.#timer = undefined;
      this.#lastError = "handshake timeout";
      const { handshakeTimeoutMs } = this.ctx.limits;
      this.#handshakeMs = ws.readyState === WebSocket.OPEN
        ? Math.min(this.#handshakeMs * 2, handshakeTimeoutMs * HANDSHAKE_PATIENCE_MAX)
        : handshakeTimeoutMs;
      ws.close(CloseCode.Refused, "handshake_timeout");
    }, this.#handshakeMs);
    ws.onopen = () => {
      if (this.#ws === ws && this.#state === "connecting") this.#state = "handshaking";
    };
    ws.onmessage = (ev) => {
      if (ev.data === PONG && this.#ws === ws && this.#state === "open") this.#keepalive?.heard();
      else this.#onHandshakeFrame(ws, ev.data);
    };
    ws.onclose = (ev) => this.#onClose(ws, ev.code, ev.reason);
  }

  #onHandshakeFrame(ws: LinkSocket, data: unknown): void {
    if (this.#ws !== ws) return;
    const h = typeof data === "string" ? parseHandshake(data) : undefined;
    if (this.#state === "handshaking" && h?.t === "challenge") {
      this.#track(ws, this.#answerChallenge(ws, h.nonce), "hello");
    } else if (
      this.#state === "handshaking" && h?.t === "welcome" && this.#clientNonce !== undefined
    ) {
      this.#track(ws, this.#checkWelcome(ws, h.mac), "welcome");
    } else {
      // The listener sends nothing after its welcome but pongs: anything else is an error.
      this.#fail(ws, `unexpected frame from peer in state ${this.#state}`);
    }
  }

  #clientNonce: string | undefined;
  #serverNonce: string | undefined;

  async #answerChallenge(ws: LinkSocket, serverNonce: string): Promise<void> {
    const key = await this.ctx.key;
    const clientNonce = newNonce();
    const fields = {
      clientId: this.ctx.selfId,
      serverId: this.peerId,
      clusterId: this.ctx.clusterId,
    };
    const mac = await sign(key, clientProofInput({ serverNonce, ...fields }));
    if (this.#ws !== ws || this.#state !== "handshaking") return;
    this.#clientNonce = clientNonce;
    this.#serverNonce = serverNonce;
    const url = this.ctx.selfUrl === undefined ? {} : { url: this.ctx.selfUrl };
    const proof = this.ctx.peerTls?.prove(certProofInput({ serverNonce, ...fields })) ?? {};
    ws.send(
      JSON.stringify({ t: "hello", v: 1, ...fields, nonce: clientNonce, mac, ...url, ...proof }),
    );
  }

  async #checkWelcome(ws: LinkSocket, mac: string): Promise<void> {
    const key = await this.ctx.key;
    const input = serverProofInput({
      clientNonce: this.#clientNonce!,
      serverNonce: this.#serverNonce!,
      clientId: this.ctx.selfId,
      serverId: this.peerId,
      clusterId: this.ctx.clusterId,
    });
    const ok = await verify(key, input, mac);
    if (this.#ws !== ws || this.#state !== "handshaking") return;
    if (!ok) {
      this.ctx.log("peer_refused", { peer: this.peerId, url: this.url, reason: "bad_server_mac" });
      this.#fail(ws, "bad_server_mac");
      return;
    }
    this.#clearTimer();
    this.#state = "open";
    this.#attempt = 0;
    this.#handshakeMs = this.ctx.limits.handshakeTimeoutMs;
    this.#counters.connects++;
    this.ctx.log("link_up", { peer: this.peerId, direction: "out", url: this.url });
    this.#watch(ws);
    this.#scheduleFlush();
  }

  /** Pings the open socket and gives it up when the peer goes quiet (see keepalive.ts). */
  #watch(ws: LinkSocket): void {
    let buffered = ws.bufferedAmount;
    const keepalive = new Keepalive({
      keepaliveMs: this.ctx.limits.keepaliveMs,
      linkSilenceMs: this.ctx.limits.linkSilenceMs,
      onBeat: () => {
        // Bytes leaving the buffer mean TCP acknowledgements arrive: the peer is there.
        if (ws.bufferedAmount < buffered) keepalive.heard();
        buffered = ws.bufferedAmount;
        // Heard within a beat (a pong, the peer's answers): a ping would prove nothing more.
        if (keepalive.heardWithin(this.ctx.limits.keepaliveMs)) return;
        try {
          ws.send(PING);
        } catch { /* closing: onclose follows */ }
      },
      onSilent: (silentMs) => this.#abandon(ws, silentMs),
      ...(this.ctx.ticker === undefined ? {} : { ticker: this.ctx.ticker }),
    });
    this.#keepalive = keepalive;
    keepalive.start();
  }

  /**
   * Gives up a mute socket without waiting for its close handshake, which a partition would hold
   * up until TCP itself gives up (many minutes), and redials. Frames still in its buffers may
   * reach the peer after a heal; the peer has given that link up too, or replaces it when the
   * new one authenticates, and Raft tolerates old messages anyway.
   */
  #abandon(ws: LinkSocket, silentMs: number): void {
    if (this.#ws !== ws) return;
    this.#counters.silentLinks++;
    this.#lastError = `silent for ${silentMs} ms`;
    ws.onmessage = null;
    ws.onclose = null;
    try {
      ws.close(CloseCode.Silent, "link silent");
    } catch { /* already closing */ }
    this.ctx.log("link_silent", { peer: this.peerId, direction: "out", silentMs });
    this.#onClose(ws, CloseCode.Silent, "link silent");
  }

  #stopKeepalive(): void {
    this.#keepalive?.stop();
    this.#keepalive = undefined;
  }

  #fail(ws: LinkSocket, reason: string): void {
    this.#lastError = reason;
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
      ws.close(CloseCode.Refused, closeReason(reason));
    }
  }

  #onClose(ws: LinkSocket, code: number, reason: string): void {
    if (this.#ws !== ws) return;
    this.#ws = undefined;
    this.#stopKeepalive();
    this.#clientNonce = undefined;
    this.#serverNonce = undefined;
    this.#clearTimer();
    if (this.#state === "closed") {
      this.#resolveClosed?.();
      return;
    }
    const wasOpen = this.#state === "open";
    if (code === CloseCode.Refused && reason !== "") this.#lastError = `refused: ${reason}`;
    this.ctx.log(wasOpen ? "link_down" : "link_failed", {
      peer: this.peerId,
      direction: "out",
      code,
      reason,
      lastError: this.#lastError,
    });
    this.#scheduleReconnect();
  }

  /** Exponential backoff with jitter: delay in [cap/2, cap), cap = min(max, base·2^attempt). */
  #scheduleReconnect(): void {
    if (this.#state === "closed") return;
    this.#state = "backoff";
    const { backoffBaseMs, backoffMaxMs } = this.ctx.limits;
    const capMs = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    const delayMs = capMs / 2 + this.ctx.random() * capMs / 2;
    this.#timer = unrefTimeout(() => {
      this.#timer = undefined;
      this.#connect();
    }, delayMs);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
