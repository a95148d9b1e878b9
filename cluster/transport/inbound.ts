/**
 * One accepted link: the listener side of the handshake (see `auth.ts`), then decoding of Raft
 * frames from the authenticated peer. Nothing from the peer reaches Raft before it has proved
 * the secret; a frame that fails to decode closes the link with a logged reason.
 *
 * @module
 */

import type { Message, NodeId } from "../raft/mod.ts";
import {
  clientProofInput,
  type Hello,
  newNonce,
  parseHandshake,
  type RefusalReason,
  serverProofInput,
  sign,
  verify,
} from "./auth.ts";
import { decodeFrame, errorText } from "./codec.ts";
import { certProofInput } from "./peer_tls.ts";
import { Keepalive, PING, PONG } from "./keepalive.ts";
import {
  CloseCode,
  closeReason,
  HANDSHAKE_PATIENCE_MAX,
  type InboundHooks,
  type LinkContext,
  unrefTimeout,
} from "./_context.ts";

export type InboundState = "challenging" | "verifying" | "open" | "closed";

/** Counters of one authenticated inbound link. */
export interface InboundStats {
  readonly receivedMessages: number;
  readonly receivedFrames: number;
  readonly receivedBytes: number;
  /** Messages whose from/to/clusterId did not match the authenticated link. */
  readonly droppedMisaddressed: number;
  /** The dialer's keepalive pings (none while our answers prove its link: `keepalive.ts`). */
  readonly receivedPings: number;
}

export class InboundLink {
  #state: InboundState = "challenging";
  #peerId: NodeId | undefined;
  #serverNonce = newNonce();
  #timer: number | undefined;
  #closedPromise: Promise<void>;
  #verifying: Promise<void> = Promise.resolve();
  #resolveClosed!: () => void;
  /** The close asked for while the upgrade was still in flight (see `close`). */
  #pendingClose: { code: number; reason: string } | undefined;
  #counters = {
    receivedMessages: 0,
    receivedFrames: 0,
    receivedBytes: 0,
    droppedMisaddressed: 0,
    receivedPings: 0,
  };
  readonly #keepalive: Keepalive;

  constructor(
    private readonly ctx: LinkContext,
    private readonly hooks: InboundHooks,
    private readonly socket: WebSocket,
  ) {
    this.#closedPromise = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    // The listener only answers pings; it gives up a link whose dialer went quiet, as patiently
    // as it waits for a hello. Its giving up only frees a dead dialer's socket: the dialer hears
    // no pongs and redials by itself, and a redial replaces this link. At the dialer's own bound
    // it dropped links whose dialer was alive but starting (start-up held its pings for 2 s on a
    // loaded machine), and each cost a redial (1-7 per 300 s chaos run, seconds each at load 20).
    // It looks every half of the dialer's bound (1 s), not at the dialer's ping rate (250 ms): it
    // sends nothing on a beat, a timer that wakes an idle node costs ~0.1 ms of CPU, and its own
    // bound is 8 s (so it gives up after 8-9 s).
    this.#keepalive = new Keepalive({
      keepaliveMs: Math.max(ctx.limits.keepaliveMs, ctx.limits.linkSilenceMs / 2),
      linkSilenceMs: ctx.limits.linkSilenceMs * HANDSHAKE_PATIENCE_MAX,
      onBeat: () => {},
      onSilent: (silentMs) => {
        this.ctx.log("link_silent", { peer: this.#peerId, direction: "in", silentMs });
        void this.close(CloseCode.Silent, "link silent");
      },
      ...(ctx.ticker === undefined ? {} : { ticker: ctx.ticker }),
    });
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      if (this.#state === "closed") {
        // Closed before the upgrade completed: Deno opens the socket anyway, so close it now.
        const { code, reason } = this.#pendingClose ?? { code: CloseCode.Shutdown, reason: "" };
        socket.close(code, closeReason(reason));
        return;
      }
      // As long as the most patient dialer waits: a dialer slowed by load must not be refused
      // while it still waits for us (the bound only ends a socket that never authenticates).
      this.#timer = unrefTimeout(() => {
        this.#timer = undefined;
        this.#refuse("handshake_timeout", {});
      }, ctx.limits.handshakeTimeoutMs * HANDSHAKE_PATIENCE_MAX);
      socket.send(JSON.stringify({ t: "challenge", v: 1, nonce: this.#serverNonce }));
    };
    socket.onmessage = (ev) => this.#onFrame(ev.data);
    socket.onclose = (ev) => this.#onClose(ev.code, ev.reason);
  }

  get peerId(): NodeId | undefined {
    return this.#peerId;
  }

  stats(): InboundStats {
    return { ...this.#counters };
  }

  /** Closes the socket and waits (bounded) for the close to complete. */
  async close(code: number, reason: string): Promise<void> {
    this.#clearTimer();
    this.#keepalive.stop();
    if (this.#state !== "closed") {
      this.#state = "closed";
      // A server socket closed while still CONNECTING turns CLOSING, and Deno then completes the
      // upgrade and opens it all the same: `onopen` closes it (else a node stopped at the moment
      // it accepted a dial would leak that connection).
      if (this.socket.readyState === WebSocket.CONNECTING) this.#pendingClose = { code, reason };
      if (this.socket.readyState <= WebSocket.OPEN) this.socket.close(code, closeReason(reason));
    }
    if (this.socket.readyState !== WebSocket.CLOSED) {
      let timer: number | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = unrefTimeout(resolve, 2000);
      });
      await Promise.race([this.#closedPromise, timeout]);
      clearTimeout(timer);
    }
    // Handshake crypto still running must finish before the caller may consider us closed.
    await this.#verifying;
  }

  #onFrame(data: unknown): void {
    switch (this.#state) {
      case "challenging": {
        const h = typeof data === "string" ? parseHandshake(data) : undefined;
        if (h?.t !== "hello") {
          // Includes binary Raft frames sent before authentication: never accepted.
          this.#refuse("bad_handshake", { got: typeof data === "string" ? "text" : "binary" });
          return;
        }
        this.#state = "verifying";
        this.#verifying = this.#verifyHello(h).catch((err) =>
          this.#refuse("bad_handshake", { error: errorText(err) })
        );
        return;
      }
      case "verifying":
        this.#refuse("bad_handshake", { got: "frame during verification" });
        return;
      case "open":
        this.#keepalive.heard();
        if (data === PING) {
          this.#counters.receivedPings++;
          this.#sendPong();
          return;
        }
        this.#onRaftFrame(data);
        return;
      case "closed":
        return;
    }
  }

  async #verifyHello(h: Hello): Promise<void> {
    const details = { clientId: h.clientId, clusterId: h.clusterId, serverId: h.serverId };
    if (h.clusterId !== this.ctx.clusterId) return this.#refuse("cluster_mismatch", details);
    if (h.serverId !== this.ctx.selfId) return this.#refuse("wrong_server", details);
    // Not "is it a member here": our membership may be behind the dialer's (docs/reliability.md item 11).
    if (h.clientId === this.ctx.selfId) return this.#refuse("same_id", details);
    const fields = { clientId: h.clientId, serverId: h.serverId, clusterId: h.clusterId };
    // With peer TLS the certificate comes first; the secret's HMAC below is the second factor.
    let certificate: { subject: string } | undefined;
    const peerTls = this.ctx.peerTls;
    if (peerTls !== undefined) {
      if (h.cert === undefined || h.sig === undefined) {
        return this.#refuse("no_certificate", details);
      }
      const check = peerTls.check(
        h.cert,
        h.sig,
        certProofInput({ serverNonce: this.#serverNonce, ...fields }),
      );
      if (!check.ok) return this.#refuse("bad_certificate", { ...details, detail: check.detail });
      certificate = { subject: check.subject };
    }
    const key = await this.ctx.key;
    const ok = await verify(
      key,
      clientProofInput({ serverNonce: this.#serverNonce, ...fields }),
      h.mac,
    );
    if (this.#state !== "verifying") return;
    if (!ok) return this.#refuse("bad_mac", details);
    const mac = await sign(
      key,
      serverProofInput({ clientNonce: h.nonce, serverNonce: this.#serverNonce, ...fields }),
    );
    if (this.#state !== "verifying") return;
    this.#clearTimer();
    this.#state = "open";
    this.#peerId = h.clientId;
    this.socket.send(JSON.stringify({ t: "welcome", mac }));
    this.ctx.log("link_up", { peer: h.clientId, direction: "in", ...certificate });
    this.#keepalive.start();
    this.hooks.authenticated(h.clientId, this, h.url);
  }

  #sendPong(): void {
    try {
      this.socket.send(PONG);
    } catch { /* closing: the dialer will notice the silence */ }
  }

  #onRaftFrame(data: unknown): void {
    const peerId = this.#peerId!;
    if (!(data instanceof ArrayBuffer)) {
      this.#closeBadFrame("text frame after authentication");
      return;
    }
    const decoded = decodeFrame(new Uint8Array(data));
    if (!decoded.ok) {
      this.#closeBadFrame(decoded.reason);
      return;
    }
    this.#counters.receivedFrames++;
    this.#counters.receivedBytes += data.byteLength;
    // The link proved who the sender is; a message claiming another sender, receiver or
    // cluster is not trusted (Raft drops other clusters' messages anyway).
    const good: Message[] = decoded.messages.filter((m) =>
      m.from === peerId && m.to === this.ctx.selfId && m.clusterId === this.ctx.clusterId
    );
    const bad = decoded.messages.length - good.length;
    if (bad > 0) {
      if (this.#counters.droppedMisaddressed === 0) {
        this.ctx.log("message_misaddressed", { peer: peerId, dropped: bad });
      }
      this.#counters.droppedMisaddressed += bad;
    }
    this.#counters.receivedMessages += good.length;
    if (good.length > 0) this.hooks.deliver(peerId, good);
  }

  #closeBadFrame(reason: string): void {
    this.ctx.log("frame_rejected", { peer: this.#peerId, reason });
    void this.close(CloseCode.BadFrame, `bad frame: ${reason}`);
  }

  #refuse(reason: RefusalReason, details: Record<string, unknown>): void {
    if (this.#state === "closed") return;
    this.ctx.log("peer_refused", { reason, ...details });
    void this.close(CloseCode.Refused, reason);
  }

  #onClose(code: number, reason: string): void {
    this.#clearTimer();
    this.#keepalive.stop();
    const wasOpen = this.#state === "open";
    this.#state = "closed";
    if (wasOpen) {
      this.ctx.log("link_down", { peer: this.#peerId, direction: "in", code, reason });
    }
    this.hooks.closed(this.#peerId, this);
    this.#resolveClosed();
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
