/**
 * The transport: one outbound link per peer, the inbound links peers dialed, and the fault seam.
 * See `mod.ts` for the contract.
 *
 * @module
 */

import type { Message, NodeId } from "../raft/mod.ts";
import { importSecret } from "./auth.ts";
import { applyFault, type FaultControl, FaultTable } from "./faults.ts";
import { InboundLink, type InboundStats } from "./inbound.ts";
import { OutboundLink, type OutboundStats } from "./outbound.ts";
import type { PeerTls } from "./peer_tls.ts";
import {
  CloseCode,
  DEFAULT_LIMITS,
  type InboundHooks,
  type LinkContext,
  type LinkTicker,
  type LogFn,
  type TransportLimits,
  unrefTimeout,
} from "./_context.ts";

/** How to build a `Transport`. */
export interface TransportOptions {
  readonly selfId: NodeId;
  readonly clusterId: string;
  /** The shared cluster secret. Never sent: links prove it by HMAC. */
  readonly secret: string;
  /** Peer id → advertised base URL (`http://host:port`). An entry for `selfId` is ignored. */
  readonly peers: ReadonlyMap<NodeId, string>;
  /**
   * This node's advertised URL, sent when it dials so that a peer that does not know it yet (it
   * missed the membership change that added this node) can answer over a link of its own.
   */
  readonly selfUrl?: string;
  /** Inbound Raft messages, in arrival order per link, already checked for sender and cluster. */
  readonly onMessages: (msgs: Message[]) => void;
  readonly log?: LogFn;
  /** Only true when the node runs with its test flag: enables `faults`. */
  readonly faultSeam?: boolean;
  /** Randomness for backoff jitter and fault drops, [0, 1). Defaults to Math.random. */
  readonly random?: () => number;
  /** Overrides of the queue, frame, backoff and handshake limits (tests shrink them). */
  readonly limits?: Partial<TransportLimits>;
  /**
   * Peer TLS (`peer_tls.ts`): dial `https` peers checking them against the cluster CA, prove this
   * node's certificate in every hello, and refuse a dialer without a proof (`no_certificate`) or
   * with a bad one (`bad_certificate`). Its `replace` applies to the links opened after it.
   */
  readonly peerTls?: PeerTls;
  /** The node's ticker: the links' keepalives beat on it (see `LinkTicker`). */
  readonly ticker?: LinkTicker;
}

/** What `stats()` reports. */
export interface TransportStats {
  readonly outbound: Record<NodeId, OutboundStats>;
  readonly inbound: Record<NodeId, InboundStats>;
  /** Messages for ids that are not in the peer set (or for this node itself). */
  readonly droppedUnknownPeer: number;
  /** Messages dropped by the fault seam (cut or drop probability), both directions. */
  readonly droppedByFault: number;
}

export class Transport {
  /** The fault seam; undefined unless constructed with `faultSeam: true`. */
  readonly faults: FaultControl | undefined;
  readonly #table: FaultTable | undefined;
  readonly #ctx: LinkContext;
  readonly #onMessages: (msgs: Message[]) => void;
  readonly #outbound = new Map<NodeId, OutboundLink>();
  #peers = new Map<NodeId, string>();
  /**
   * Peers that are not in `#peers` but dialed us, proved the secret and cluster id, and
   * advertised their URL: a leader added while this node was down, or any member it has not
   * caught up with. They get an outbound link too, until the membership names them.
   */
  readonly #learned = new Map<NodeId, string>();
  readonly #inbound = new Map<NodeId, InboundLink>();
  readonly #pending = new Set<InboundLink>();
  readonly #faultTimers = new Set<number>();
  readonly #draining = new Set<Promise<void>>();
  #droppedUnknownPeer = 0;
  #droppedByFault = 0;
  #closed = false;

  constructor(opts: TransportOptions) {
    if (opts.selfId === "") throw new Error("Cannot start the transport: selfId is empty");
    if (opts.clusterId === "") throw new Error("Cannot start the transport: clusterId is empty");
    const key = importSecret(opts.secret);
    key.catch(() => {}); // Awaited by every handshake; never an unhandled rejection.
    this.#ctx = {
      selfId: opts.selfId,
      ...(opts.selfUrl === undefined ? {} : { selfUrl: opts.selfUrl }),
      clusterId: opts.clusterId,
      key,
      log: opts.log ?? (() => {}),
      random: opts.random ?? Math.random,
      limits: { ...DEFAULT_LIMITS, ...opts.limits },
      ...(opts.peerTls === undefined ? {} : { peerTls: opts.peerTls }),
      ...(opts.ticker === undefined ? {} : { ticker: opts.ticker }),
    };
    this.#onMessages = opts.onMessages;
    if (opts.faultSeam === true) {
      this.#table = new FaultTable();
      this.faults = this.#table;
    }
    this.setPeers(opts.peers);
  }

  /**
   * Queues messages for their `to` peers; flushes in a microtask. Never blocks and never throws
   * for a dead or unknown peer: such messages are queued (bounded) or counted as dropped.
   */
  send(msgs: readonly Message[]): void {
    if (this.#closed || msgs.length === 0) return;
    const byPeer = new Map<NodeId, Message[]>();
    for (const m of msgs) {
      const list = byPeer.get(m.to);
      if (list === undefined) byPeer.set(m.to, [m]);
      else list.push(m);
    }
    for (const [peer, list] of byPeer) {
      const link = this.#outbound.get(peer);
      if (link === undefined) {
        this.#droppedUnknownPeer += list.length;
        continue;
      }
      this.#throughFault(peer, "out", list, (ms) => link.enqueue(ms));
    }
  }

  /**
   * Answers `GET <base>/cluster/v1/link` (see `CLUSTER_LINK_PATH`): upgrades to a WebSocket and
   * runs the listener side of the handshake. Hand it the raw `Request` from `Deno.serve` (or
   * `c.req.raw` in Hono) and return its `Response` unchanged.
   */
  handleUpgrade(req: Request): Response {
    if (this.#closed) return new Response("transport closed", { status: 503 });
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("expected a WebSocket upgrade", {
        status: 426,
        headers: { upgrade: "websocket" },
      });
    }
    // No idle timeout of Deno's own: it re-arms a timer on every message received (a few µs per
    // frame on the hot path), and the links' keepalive (keepalive.ts) watches liveness already.
    const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: 0 });
    const link = new InboundLink(this.#ctx, this.#hooks, socket);
    this.#pending.add(link);
    return response;
  }

  /**
   * Replaces the peer set (the membership's URLs): new peers are dialed, changed URLs redialed,
   * and the outbound links of removed ones closed. Inbound links stay: a link is admitted by the
   * secret and cluster id, not by membership, which may be behind the dialer's.
   */
  setPeers(peers: ReadonlyMap<NodeId, string>): void {
    if (this.#closed) return;
    this.#peers = new Map([...peers].filter(([id]) => id !== this.#ctx.selfId));
    for (const id of this.#peers.keys()) this.#learned.delete(id);
    this.#syncOutbound();
  }

  /** One outbound link per peer and learned peer, at its current URL. */
  #syncOutbound(): void {
    const want = new Map([...this.#learned, ...this.#peers]);
    for (const [id, link] of this.#outbound) {
      if (want.get(id) !== link.baseUrl) {
        void link.close();
        this.#outbound.delete(id);
      }
    }
    for (const [id, url] of want) {
      if (!this.#outbound.has(id)) this.#outbound.set(id, new OutboundLink(this.#ctx, id, url));
    }
  }

  stats(): TransportStats {
    const outbound: Record<NodeId, OutboundStats> = {};
    for (const [id, link] of this.#outbound) outbound[id] = link.stats();
    const inbound: Record<NodeId, InboundStats> = {};
    for (const [id, link] of this.#inbound) inbound[id] = link.stats();
    return {
      outbound,
      inbound,
      droppedUnknownPeer: this.#droppedUnknownPeer,
      droppedByFault: this.#droppedByFault,
    };
  }

  /** Closes every link and timer and waits for the sockets to close. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const id of this.#faultTimers) clearTimeout(id);
    this.#faultTimers.clear();
    const closing: Promise<void>[] = [];
    for (const link of this.#outbound.values()) closing.push(link.close());
    for (const link of [...this.#inbound.values(), ...this.#pending]) {
      closing.push(link.close(CloseCode.Shutdown, "transport closed"));
    }
    this.#outbound.clear();
    await Promise.all([...closing, ...this.#draining]);
  }

  readonly #hooks: InboundHooks = {
    authenticated: (peerId, link, url) => {
      const l = link as InboundLink;
      if (url !== undefined && !this.#peers.has(peerId) && this.#learned.get(peerId) !== url) {
        this.#ctx.log("peer_learned", { peer: peerId, url });
        this.#learned.set(peerId, url);
        this.#syncOutbound();
      }
      this.#pending.delete(l);
      const old = this.#inbound.get(peerId);
      this.#inbound.set(peerId, l);
      // One inbound link per peer: a redial (e.g. after the peer restarted) replaces the old one.
      if (old !== undefined && old !== l) {
        this.#ctx.log("link_replaced", { peer: peerId });
        void old.close(CloseCode.Replaced, "replaced by a newer link");
      }
    },
    closed: (peerId, link) => {
      const l = link as InboundLink;
      if (this.#pending.delete(l)) {
        // Its handshake crypto may still be running: close() must wait for it (no leaked ops).
        const settled = l.close(CloseCode.Shutdown, "closed");
        this.#draining.add(settled);
        void settled.finally(() => this.#draining.delete(settled));
      }
      if (peerId !== undefined && this.#inbound.get(peerId) === link) this.#inbound.delete(peerId);
    },
    deliver: (peerId, msgs) => {
      if (this.#closed) return;
      this.#throughFault(peerId, "in", msgs, (ms) => {
        if (holdsAnswer(ms)) this.#outbound.get(peerId)?.answered();
        this.#onMessages(ms);
      });
    },
  };

  /** Passes `msgs` through the fault seam (if any) in `direction`, then to `next`. */
  #throughFault(
    peer: NodeId,
    direction: "out" | "in",
    msgs: Message[],
    next: (msgs: Message[]) => void,
  ): void {
    const fault = this.#table?.get(peer, direction);
    if (fault === undefined) {
      next(msgs);
      return;
    }
    const outcome = applyFault(fault, msgs, this.#ctx.random);
    this.#droppedByFault += outcome.dropped;
    if (outcome.now.length > 0) next(outcome.now);
    for (const { delayMs, msgs: held } of outcome.later) {
      const id = unrefTimeout(() => {
        this.#faultTimers.delete(id);
        if (!this.#closed) next(held);
      }, delayMs);
      this.#faultTimers.add(id);
    }
  }
}

/**
 * Whether a delivery holds an answer to a message of ours (`OutboundLink.answered`). Most hold
 * one message.
 */
function holdsAnswer(msgs: readonly Message[]): boolean {
  for (let i = 0; i < msgs.length; i++) if (msgs[i].type.endsWith("_resp")) return true;
  return false;
}
