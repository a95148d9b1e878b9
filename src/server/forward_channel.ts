/**
 * The follower's end of the forwarding channel (`LeaderFetch`): one WebSocket per leader URL
 * carries every write this node forwards, each a frame matched to its answer by id (see
 * forward_frames.ts and forward_endpoint.ts). It keeps forwarding's outcomes exact:
 * - the socket could not be opened, or the frame could not be handed to it: nothing reached the
 *   leader (`ForwardNotSentError`, answered `no_leader`);
 * - the socket closed or went silent after the frame was sent, or the request's own deadline
 *   passed: the leader may have applied it (any other error, answered `unknown_outcome`).
 * The socket is watched like a peer link (ping every 250 ms, given up after 2 s of silence), so a
 * leader cut off by the network fails its pending requests in 2 s rather than at their deadline.
 *
 * @module
 */

import {
  DEFAULT_LIMITS,
  dialWebSocket,
  Keepalive,
  type LinkSocket,
  type PeerTls,
  PING,
  PONG,
} from "../../cluster/transport/mod.ts";
import { type ForwardedRequest, ForwardNotSentError, type LeaderAnswer } from "../http/mod.ts";
import { decodeForwardResponse, encodeForwardFrame, FORWARD_PATH } from "./forward_frames.ts";
import { forwardProofInput, parseForwardHandshake } from "./forward_proof.ts";

/** Who a follower is, for the certificate proof a forwarding channel opens with (peer TLS). */
export interface ForwardIdentity {
  readonly selfId: string;
  readonly clusterId: string;
  readonly peerTls: PeerTls;
}

/** Tunables; tests shrink them. */
export interface ForwardChannelLimits {
  /** A socket not open within this time fails the requests waiting for it (nothing was sent). */
  readonly connectTimeoutMs: number;
  readonly keepaliveMs: number;
  readonly silenceMs: number;
  /** A socket with no request for this long is closed. */
  readonly idleMs: number;
}

export const FORWARD_CHANNEL_DEFAULTS: ForwardChannelLimits = {
  // The peer links' timings: one notion of "a dead socket" for every link between nodes.
  connectTimeoutMs: DEFAULT_LIMITS.handshakeTimeoutMs,
  keepaliveMs: DEFAULT_LIMITS.keepaliveMs,
  silenceMs: DEFAULT_LIMITS.linkSilenceMs,
  idleMs: 60_000,
};

interface Pending {
  resolve(r: LeaderAnswer): void;
  reject(e: unknown): void;
}

/** One socket to one leader URL. */
class Channel {
  readonly #ws: LinkSocket;
  readonly #opened: Promise<boolean>;
  readonly #pending = new Map<number, Pending>();
  readonly #keepalive: Keepalive;
  #seq = 0;
  #open = false;
  #closed = false;
  #lastUsedMs = Date.now();

  readonly #identity: ForwardIdentity | undefined;
  #resolveOpened: (open: boolean) => void = () => {};

  constructor(
    readonly baseUrl: string,
    readonly limits: ForwardChannelLimits,
    readonly onClosed: (c: Channel) => void,
    identity?: ForwardIdentity,
  ) {
    this.#identity = identity;
    // Under the advertised URL, prefix included, as the peer links are.
    const url = new URL(baseUrl);
    url.pathname = url.pathname.replace(/\/+$/, "") + FORWARD_PATH;
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    // TCP_NODELAY, as on the peer links: a forwarded write never waits for a delayed ACK.
    this.#ws = dialWebSocket(url, identity ? { caCerts: identity.peerTls.caCerts } : {});
    this.#keepalive = new Keepalive({
      keepaliveMs: limits.keepaliveMs,
      linkSilenceMs: limits.silenceMs,
      onBeat: () => {
        if (Date.now() - this.#lastUsedMs > limits.idleMs && this.#pending.size === 0) {
          this.close("idle");
          return;
        }
        this.#trySend(PING);
      },
      onSilent: (ms) => this.close(`the leader was silent for ${ms} ms`),
    });
    this.#opened = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        resolve(false);
        this.close("connect timeout");
      }, limits.connectTimeoutMs);
      this.#resolveOpened = (open) => {
        clearTimeout(timer);
        this.#open = open && !this.#closed;
        if (this.#open) this.#keepalive.start();
        resolve(this.#open);
      };
      // With peer TLS the channel is open once the leader accepted this node's certificate.
      this.#ws.onopen = () => {
        if (this.#identity === undefined) this.#resolveOpened(true);
      };
      this.#ws.onclose = (ev) => {
        clearTimeout(timer);
        resolve(false);
        this.close(`closed by the leader (${ev.code} ${ev.reason})`);
      };
    });
    this.#ws.onmessage = (ev) => this.#onMessage(ev.data);
  }

  get closed(): boolean {
    return this.#closed;
  }

  async send(request: ForwardedRequest): Promise<LeaderAnswer> {
    this.#lastUsedMs = Date.now();
    if (!(await this.#opened) || this.#closed) {
      throw new ForwardNotSentError(`cannot open the forwarding channel to ${this.baseUrl}`);
    }
    const id = ++this.#seq;
    const frame = encodeForwardFrame({
      i: id,
      m: request.method,
      p: request.path,
      h: request.headers,
      ...(request.body !== undefined ? { b: request.body } : {}),
    });
    const { signal } = request;
    const answer = new Promise<LeaderAnswer>((resolve, reject) => {
      const onAbort = () => {
        if (this.#pending.delete(id)) reject(signal.reason);
      };
      // Removed once settled: the deadline's signal lives on (its timer) well past the answer.
      const settled = () => signal.removeEventListener("abort", onAbort);
      this.#pending.set(id, {
        resolve: (a) => {
          settled();
          resolve(a);
        },
        reject: (e) => {
          settled();
          reject(e);
        },
      });
      signal.addEventListener("abort", onAbort, { once: true });
    });
    if (!this.#trySend(frame)) {
      this.#pending.delete(id);
      throw new ForwardNotSentError(`the forwarding channel to ${this.baseUrl} is closing`);
    }
    return await answer;
  }

  #trySend(data: string | Uint8Array): boolean {
    if (this.#closed || this.#ws.readyState !== WebSocket.OPEN) return false;
    try {
      this.#ws.send(data);
      return true;
    } catch {
      return false;
    }
  }

  #onMessage(data: unknown): void {
    this.#keepalive.heard();
    if (data === PONG) return;
    if (typeof data === "string" && this.#identity !== undefined && !this.#open) {
      this.#onHandshake(data, this.#identity);
      return;
    }
    const frame = data instanceof ArrayBuffer
      ? decodeForwardResponse(new Uint8Array(data))
      : undefined;
    if (frame === undefined) {
      this.close("the leader sent a malformed frame");
      return;
    }
    const p = this.#pending.get(frame.i);
    if (p === undefined) return; // its request gave up (deadline) before the answer came
    this.#pending.delete(frame.i);
    p.resolve({ status: frame.s, headers: frame.h, body: frame.b });
  }

  /** Answers the leader's challenge with this node's certificate proof; open at its welcome. */
  #onHandshake(text: string, identity: ForwardIdentity): void {
    const h = parseForwardHandshake(text);
    if (h?.t === "challenge") {
      const input = forwardProofInput({
        serverNonce: h.nonce,
        clientId: identity.selfId,
        clusterId: identity.clusterId,
      });
      const proof = identity.peerTls.prove(input);
      this.#trySend(JSON.stringify({ t: "hello", v: 1, clientId: identity.selfId, ...proof }));
    } else if (h?.t === "welcome") {
      this.#resolveOpened(true);
    } else {
      this.close("the leader sent a malformed handshake");
    }
  }

  /** Fails every pending request as "maybe applied" (they were sent) and forgets the socket. */
  close(why: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#keepalive.stop();
    // Without waiting for a close handshake, which a partition would hold up.
    this.#ws.onmessage = null;
    this.#ws.onclose = null;
    try {
      this.#ws.close(1000, "forwarding channel closed");
    } catch { /* closing already */ }
    for (const p of this.#pending.values()) {
      p.reject(
        new Error(`The forwarding channel to ${this.baseUrl} was lost after sending: ${why}`),
      );
    }
    this.#pending.clear();
    this.onClosed(this);
  }
}

/** Forwarding channels by leader URL; `fetch` is the `LeaderFetch` to give `createApp`. */
export class ForwardChannels {
  readonly #channels = new Map<string, Channel>();
  readonly #limits: ForwardChannelLimits;

  constructor(
    limits: Partial<ForwardChannelLimits> = {},
    private readonly identity?: ForwardIdentity,
  ) {
    this.#limits = { ...FORWARD_CHANNEL_DEFAULTS, ...limits };
  }

  readonly fetch = (request: ForwardedRequest): Promise<LeaderAnswer> => {
    const base = request.leaderUrl;
    let channel = this.#channels.get(base);
    if (channel === undefined || channel.closed) {
      channel = new Channel(base, this.#limits, (c) => {
        if (this.#channels.get(c.baseUrl) === c) this.#channels.delete(c.baseUrl);
      }, this.identity);
      this.#channels.set(base, channel);
    }
    return channel.send(request);
  };

  /** Closes every channel; their pending requests fail as lost. */
  close(): void {
    for (const c of [...this.#channels.values()]) c.close("this node is stopping");
  }
}
