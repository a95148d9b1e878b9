/**
 * The Raft consensus core: a pure, synchronous state machine in the style of etcd-io/raft. Feed
 * it ticks and messages, take `ready()` batches (persist, send, apply), `advance()`.
 *
 * @example
 * ```ts
 * const node = new RawNode(config, initial);
 * node.tick();
 * if (node.hasReady()) {
 *   const rd = node.ready();
 *   // send rd.messages; persist rd.snapshot, rd.entries, rd.hardState; send
 *   // rd.messagesAfterPersist; apply rd.committedEntries
 *   node.advance(rd);
 * }
 * ```
 *
 * @module
 */

export * from "./types.ts";
export { RawNode } from "./raw_node.ts";
export { decodeConfChange, encodeConfChange } from "./conf_change.ts";
export type { DropCounts, PeerProgress, RaftStatus } from "./status.ts";
export type { ProgressState } from "./progress.ts";
