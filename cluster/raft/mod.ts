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
 * Rules this core follows (details beside the code):
 * - A candidate's vote requests go out in `messages`; its own vote counts only after the Ready
 *   carrying its new term and vote was persisted (raft.ts). Granted votes and append
 *   acknowledgements go in `messagesAfterPersist`; the leader counts itself toward commit only
 *   for entries it persisted (raw_node.ts).
 * - A conf change takes effect on a node when it applies the committed entry, i.e. in
 *   `advance()` (conf_change.ts). One change at a time, and only after the leader committed an
 *   entry of its term.
 * - At most one Ready is outstanding: call `advance()` before the next `ready()`.
 *
 * @module
 */

export * from "./types.ts";
export { RawNode } from "./raw_node.ts";
export { LostLogError } from "./lost_log_error.ts";
export { applyConfChange, decodeConfChange, encodeConfChange } from "./conf_change.ts";
export type { DropCounts, PeerProgress, RaftStatus } from "./status.ts";
export type { ProgressState } from "./progress.ts";
