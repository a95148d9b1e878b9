/**
 * WebSocket links between nodes: Raft `Message`s out and in, authenticated, batched, bounded.
 *
 * ```ts
 * const t = new Transport({
 *   selfId: "n1", clusterId: "c1", secret,
 *   peers: new Map([["n2", "http://127.0.0.1:8082"], ["n3", "http://127.0.0.1:8083"]]),
 *   onMessages: (msgs) => node.step(msgs),
 *   log: (event, details) => logger.info(event, details),
 * });
 * Deno.serve((req) =>
 *   new URL(req.url).pathname === CLUSTER_LINK_PATH ? t.handleUpgrade(req) : app.fetch(req)
 * );
 * t.send(ready.messages);   // never blocks, never throws on a dead peer
 * await t.close();
 * ```
 *
 * Contract:
 * - Links are one-way. This node dials every peer at `<peer base URL>/cluster/v1/link` and sends
 *   only on the links it dialed; it receives only on links peers dialed to it. A redial from a
 *   peer replaces that peer's older inbound link.
 * - Every link opens with a mutual HMAC-SHA-256 challenge over the shared secret (`auth.ts`).
 *   A wrong secret, another cluster's id, a dialer claiming this node's id, or a dialer that
 *   reached the wrong node is refused (close code 4003, reason = the refusal code) and logged as
 *   `peer_refused`. Membership admits nothing: a node not in the peer set that proves the secret
 *   is heard, and the URL its hello advertised (`selfUrl`) is dialed back (`peer_learned`) until
 *   the peer set names it, so a node whose membership is behind still hears and answers a leader
 *   added meanwhile. No Raft message is accepted before the peer is authenticated, and after it
 *   a message whose `from`/`to`/`clusterId` disagrees with the link is dropped.
 * - Frames: byte 0 is the format version (`FRAME_VERSION_V1`), the rest msgpackr of
 *   `Message[]`. Messages sent in one synchronous burst leave as one frame (flushed in a
 *   microtask); frames carry up to `frameBytesMax`. Uint8Array fields arrive as Uint8Array. An
 *   undecodable frame or unknown version closes the link (4002) and logs `frame_rejected`.
 * - Each peer has a bounded queue (4096 messages / 64 MiB by default); while a socket's
 *   `bufferedAmount` is above 8 MiB nothing more is handed to it. A full queue drops its OLDEST
 *   messages and counts them (`stats().outbound[peer].droppedQueueFull`): Raft retransmits.
 * - A lost link is redialed forever while the peer is in the set (or learned), with exponential backoff and
 *   jitter from 50 ms up to 1 s; a dial not authenticated within 2 s is abandoned. All timers are
 *   unref'd and cleared by `close()`.
 * - Links are dialed by `dial.ts` (a WebSocket client on `Deno.connect` with TCP_NODELAY; Deno's
 *   own client turns it off, and Nagle then held appends behind delayed ACKs for ~40 ms, see
 *   docs/transport.md). `dialWebSocket` is exported for the broker's forwarding channel.
 * - Open links are watched (`keepalive.ts`): the dialer pings every 250 ms, the listener answers,
 *   and a side that heard nothing for 2 s gives the socket up (`link_silent`; the dialer redials),
 *   because a partition that drops packets leaves a TCP connection open and mute.
 * - With `faultSeam: true` (a test flag only), `faults` drops, delays or cuts messages per peer
 *   and direction; see `faults.ts` and `validateFaultSpec`. Without it `faults` is undefined.
 *
 * Log events: `link_up`, `link_down`, `link_failed`, `link_silent`, `link_replaced`, `peer_refused`,
 * `frame_rejected`, `queue_drop`, `message_misaddressed`.
 *
 * @module
 */

export { Transport, type TransportOptions, type TransportStats } from "./transport.ts";
export { CLUSTER_LINK_PATH, linkUrl, type OutboundState, type OutboundStats } from "./outbound.ts";
export type { InboundStats } from "./inbound.ts";
export {
  type FaultControl,
  type FaultDirection,
  type FaultRow,
  type FaultSpec,
  type FaultSpecResult,
  FaultTable,
  type LinkFault,
  validateFaultSpec,
} from "./faults.ts";
export { decodeFrame, encodeFrame, FRAME_VERSION_V1 } from "./codec.ts";
export { longStringLedByBom } from "./long_bom_string.ts";
export type { RefusalReason } from "./auth.ts";
export {
  DEFAULT_LIMITS,
  HANDSHAKE_PATIENCE_MAX,
  type LinkTicker,
  type LogFn,
  type TransportLimits,
} from "./_context.ts";
export { Keepalive, PING, PONG } from "./keepalive.ts";
export { dialWebSocket, type LinkSocket } from "./dial.ts";
export {
  certProofInput,
  type ChainCheck,
  checkChain,
  loadPeerCredentials,
  type PeerCredentials,
  PeerTls,
  pemCertificates,
} from "./peer_tls.ts";
