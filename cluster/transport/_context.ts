/**
 * What the outbound and inbound links share with their transport: identity, key, limits and the
 * hooks. Folder-private.
 *
 * @module
 */

import type { Message, NodeId } from "../raft/mod.ts";
import type { PeerTls } from "./peer_tls.ts";

/** The structured log hook: an event name and flat details. */
export type LogFn = (event: string, details: Record<string, unknown>) => void;

/** Tunables of the links. Defaults in `DEFAULT_LIMITS`; tests shrink them. */
export interface TransportLimits {
  /** Most messages waiting for one peer; beyond it the oldest are dropped. */
  readonly queueMessagesMax: number;
  /** Most (estimated) bytes waiting for one peer; beyond it the oldest are dropped. */
  readonly queueBytesMax: number;
  /** Stop handing frames to a socket while its `bufferedAmount` is above this. */
  readonly bufferedBytesHigh: number;
  /** A frame holds messages up to about this many (estimated) bytes; one message always fits. */
  readonly frameBytesMax: number;
  /** First reconnect delay; doubles per failed attempt up to `backoffMaxMs`. */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /**
   * A dial not authenticated within this time is given up. A dial that reached the peer (its
   * socket opened) and still timed out gets twice as long the next time, up to
   * `HANDSHAKE_PATIENCE_MAX` times this (see `OutboundLink`); the listener waits that long.
   */
  readonly handshakeTimeoutMs: number;
  /** How often a backed-up socket (`bufferedAmount` high) is polled for drain. */
  readonly drainPollMs: number;
  /** How often the dialer pings an open link (see `keepalive.ts`). */
  readonly keepaliveMs: number;
  /**
   * An open link that heard nothing for this long is given up and redialed: a partition that
   * drops packets leaves a socket open and mute. Raise it for links slower than ~20 Mbit/s, where
   * one 4 MiB frame takes longer than this to arrive.
   */
  readonly linkSilenceMs: number;
}

export const DEFAULT_LIMITS: TransportLimits = {
  queueMessagesMax: 4096,
  queueBytesMax: 64 * 1024 * 1024,
  bufferedBytesHigh: 8 * 1024 * 1024,
  frameBytesMax: 4 * 1024 * 1024,
  backoffBaseMs: 50,
  // Short enough that a dial whose SYN a partition swallowed is retried soon after the heal.
  backoffMaxMs: 1000,
  handshakeTimeoutMs: 2000,
  drainPollMs: 2,
  keepaliveMs: 250,
  linkSilenceMs: 2000,
};

/**
 * How many times `handshakeTimeoutMs` a dial may take after handshakes that timed out with the
 * peer reachable: on a loaded machine (a full restart, every node replaying its log on shared
 * cores) a handshake can take longer than 2 s, and a fixed bound then failed every attempt.
 */
export const HANDSHAKE_PATIENCE_MAX = 4;

/**
 * Where the links' periodic checks (`keepalive.ts`) run: a node's one ticker, so their beats
 * share its wake-ups (a timer that wakes an idle process costs ~0.1 ms of CPU). `every` runs `fn`
 * every `everyMs` and returns what stops it. Without one, each link has interval timers of its own.
 */
export interface LinkTicker {
  every(everyMs: number, fn: () => void): () => void;
}

export interface LinkContext {
  readonly selfId: NodeId;
  /** This node's advertised URL, sent in every hello so a listener can dial back. */
  readonly selfUrl?: string;
  readonly clusterId: string;
  readonly key: Promise<CryptoKey>;
  readonly log: LogFn;
  readonly random: () => number;
  readonly limits: TransportLimits;
  /** Peer TLS: dials check the listener against the cluster CA, hellos carry a certificate proof. */
  readonly peerTls?: PeerTls;
  readonly ticker?: LinkTicker;
}

/** Inbound hooks the transport gives every accepted socket. */
export interface InboundHooks {
  /**
   * Called once the peer proved the secret and cluster id; the transport replaces an older link
   * of that peer, and dials back `url` (the one its hello advertised) if it has no link to it.
   */
  authenticated(
    peerId: NodeId,
    link: { close(code: number, reason: string): void },
    url: string | undefined,
  ): void;
  closed(peerId: NodeId | undefined, link: unknown): void;
  deliver(peerId: NodeId, msgs: Message[]): void;
}

/** Close codes used on links (4000–4999 is the application range). */
export const CloseCode = {
  Normal: 1000,
  // 1001 (going away) may not be sent by scripts: the application range stands in for it.
  Shutdown: 4001,
  Replaced: 4000,
  BadFrame: 4002,
  Refused: 4003,
  /** Nothing heard for `linkSilenceMs` (see `keepalive.ts`). */
  Silent: 4005,
} as const;

/** WebSocket close reasons are limited to 123 UTF-8 bytes. */
export function closeReason(text: string): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.byteLength <= 123) return text;
  return new TextDecoder().decode(bytes.subarray(0, 120)).replace(/\uFFFD$/, "") + "...";
}

/** A timer that does not keep the process alive. */
export function unrefTimeout(fn: () => void, ms: number): number {
  // Deno returns a number at run time; the npm type definitions in the graph widen the type.
  const id = setTimeout(fn, ms) as unknown as number;
  Deno.unrefTimer(id);
  return id;
}

/** An interval timer that does not keep the process alive. */
export function unrefInterval(fn: () => void, ms: number): number {
  const id = setInterval(fn, ms) as unknown as number;
  Deno.unrefTimer(id);
  return id;
}
